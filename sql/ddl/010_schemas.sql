-- Schemas of the warehouse. Every statement here is idempotent: this file runs before every write.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS marts;
COMMENT ON SCHEMA raw IS 'Source data as fetched: archive metadata, per-record source values (untyped), rejects';
COMMENT ON SCHEMA staging IS 'Cleaned, typed, mapped records in one model across all cities and sources';
COMMENT ON SCHEMA marts IS 'Indicator facts, scores and the city ranking';
