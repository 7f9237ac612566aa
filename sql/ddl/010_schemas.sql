-- Schemas of the warehouse. Every statement here is idempotent: this file runs before every write.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS marts;
-- raw: source data as fetched (archive metadata, per-record source values as text, rejects)
-- staging: cleaned, typed, mapped records in one model across cities and sources
-- marts: indicator facts, scores and the city ranking
-- (DuckDB does not support COMMENT ON SCHEMA; tables and columns carry comments.)
