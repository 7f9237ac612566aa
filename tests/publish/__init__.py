"""Tests of hotline_eval/publish/."""
