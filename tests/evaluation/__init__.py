"""Tests of hotline_eval/evaluation/."""
