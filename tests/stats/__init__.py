"""Tests of hotline_eval/stats/."""
