CREATE TABLE IF NOT EXISTS staging.cities (
    city_id VARCHAR NOT NULL,
    city_name VARCHAR NOT NULL,
    name_local VARCHAR NOT NULL,
    country VARCHAR NOT NULL,
    region VARCHAR NOT NULL,
    timezone VARCHAR NOT NULL,
    population BIGINT NOT NULL,
    population_year INTEGER NOT NULL,
    population_source VARCHAR NOT NULL,
    hotline_brand VARCHAR NOT NULL,
    hotline_numbers VARCHAR[] NOT NULL,
    data_level VARCHAR NOT NULL,
    data_evidence_url VARCHAR NOT NULL,
    in_2024_report BOOLEAN NOT NULL,
    n_sources INTEGER NOT NULL
);
COMMENT ON TABLE staging.cities IS 'The evaluated cities as registered in config/cities/ (one file per city)';
COMMENT ON COLUMN staging.cities.city_id IS 'Registry city id';
COMMENT ON COLUMN staging.cities.name_local IS 'Name in the local language and script';
COMMENT ON COLUMN staging.cities.country IS 'ISO 3166-1 alpha-2 country code';
COMMENT ON COLUMN staging.cities.region IS 'World region';
COMMENT ON COLUMN staging.cities.timezone IS 'IANA time zone used to read local timestamps';
COMMENT ON COLUMN staging.cities.population IS 'Population served (see population_source)';
COMMENT ON COLUMN staging.cities.population_year IS 'Year of the population figure';
COMMENT ON COLUMN staging.cities.population_source IS 'Where the population figure comes from';
COMMENT ON COLUMN staging.cities.hotline_brand IS 'Name of the city hotline';
COMMENT ON COLUMN staging.cities.hotline_numbers IS 'Numbers to call';
COMMENT ON COLUMN staging.cities.data_level IS 'request_level, aggregate or not_public: what the city publishes about its hotline';
COMMENT ON COLUMN staging.cities.data_evidence_url IS 'Page that shows what is published';
COMMENT ON COLUMN staging.cities.in_2024_report IS 'Named in the 2024 evaluation report';
COMMENT ON COLUMN staging.cities.n_sources IS 'Number of configured data sources';
-- migration (name_en renamed city_name, the name marts.city_ranking uses): the table is rebuilt from config/cities/ on every run
ALTER TABLE staging.cities ADD COLUMN IF NOT EXISTS city_name VARCHAR;
ALTER TABLE staging.cities DROP COLUMN IF EXISTS name_en;
COMMENT ON COLUMN staging.cities.city_name IS 'City name in English (as marts.city_ranking.city_name)';
ALTER TABLE staging.cities ADD COLUMN IF NOT EXISTS hotline_type VARCHAR;
ALTER TABLE staging.cities ADD COLUMN IF NOT EXISTS hotline_type_citation VARCHAR;
COMMENT ON COLUMN staging.cities.hotline_type IS 'The hotline type the 2024 report names the city an example of (config/report_facts.yaml); null where it names none';
COMMENT ON COLUMN staging.cities.hotline_type_citation IS 'Where the report''s hotline type for the city is published';
