"""Tests of hotline_eval/config/."""
