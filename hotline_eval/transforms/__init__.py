"""Polars transforms: raw -> staging -> indicator facts."""
