"""Tests of hotline_eval/sources/."""
