"""Tests of hotline_eval/portals/."""
