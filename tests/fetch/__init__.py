"""Tests of hotline_eval/fetch/."""
