"""Tests of hotline_eval/staging/."""
