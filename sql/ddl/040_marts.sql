CREATE TABLE IF NOT EXISTS marts.indicator_facts (
    city_id VARCHAR NOT NULL,
    indicator_id VARCHAR NOT NULL,
    period VARCHAR NOT NULL,
    raw_value DOUBLE,
    unit VARCHAR NOT NULL,
    normalized_value DOUBLE,
    coverage DOUBLE NOT NULL,
    n_observations BIGINT NOT NULL,
    missing_reason VARCHAR,
    evidence_table VARCHAR NOT NULL,
    evidence_keys VARCHAR,
    evidence_sha256s VARCHAR[] NOT NULL,
    is_synthetic BOOLEAN NOT NULL,
    evidence_kind VARCHAR NOT NULL,
    naive_value DOUBLE,
    run_id VARCHAR NOT NULL,
    evidence_route VARCHAR,
    evidence_year INTEGER,
    evidence_age_years INTEGER,
    citation_url VARCHAR
);
ALTER TABLE marts.indicator_facts ADD COLUMN IF NOT EXISTS evidence_route VARCHAR;
ALTER TABLE marts.indicator_facts ADD COLUMN IF NOT EXISTS evidence_year INTEGER;
ALTER TABLE marts.indicator_facts ADD COLUMN IF NOT EXISTS evidence_age_years INTEGER;
ALTER TABLE marts.indicator_facts ADD COLUMN IF NOT EXISTS citation_url VARCHAR;
COMMENT ON TABLE marts.indicator_facts IS 'One row per city, tertiary indicator and period: the measured value, its normalized score and the evidence it rests on';
COMMENT ON COLUMN marts.indicator_facts.city_id IS 'Registry city id';
COMMENT ON COLUMN marts.indicator_facts.indicator_id IS 'Tertiary indicator id (config/indicators.yaml)';
COMMENT ON COLUMN marts.indicator_facts.period IS 'Evaluation period: a year (YYYY) or a month (YYYY-MM)';
COMMENT ON COLUMN marts.indicator_facts.raw_value IS 'Measured value in the indicator''s unit; null when missing';
COMMENT ON COLUMN marts.indicator_facts.unit IS 'Unit of raw_value';
COMMENT ON COLUMN marts.indicator_facts.normalized_value IS 'Score in [0, 1] after normalization across cities, higher is better';
COMMENT ON COLUMN marts.indicator_facts.coverage IS 'Share of the period the evidence covers (0 to 1); 0 when missing';
COMMENT ON COLUMN marts.indicator_facts.n_observations IS 'Number of records the value was computed from';
COMMENT ON COLUMN marts.indicator_facts.missing_reason IS 'Why the value is missing, when it is';
COMMENT ON COLUMN marts.indicator_facts.evidence_table IS 'Table the value was computed from';
COMMENT ON COLUMN marts.indicator_facts.evidence_keys IS 'Keys of the evidence rows (e.g. city_id and partition months)';
COMMENT ON COLUMN marts.indicator_facts.evidence_sha256s IS 'sha256 of every archived response the value rests on (raw.http_archive.sha256)';
COMMENT ON COLUMN marts.indicator_facts.is_synthetic IS 'True when any evidence behind the value is invented demo data';
COMMENT ON COLUMN marts.indicator_facts.evidence_kind IS 'feeds, pages or curated: the kind of the route the value came by (requests and statistics are feeds; registry facts are curated); for a missing value, the kind of the indicator''s first route';
COMMENT ON COLUMN marts.indicator_facts.evidence_route IS 'The route the value came by: requests, statistics, pages, curated or registry (config/indicators.yaml lists each indicator''s routes in precedence order); null when missing';
COMMENT ON COLUMN marts.indicator_facts.evidence_year IS 'Year the evidence describes: the evaluation year for request feeds, the published period''s year for statistics and cited facts, the year pages were read';
COMMENT ON COLUMN marts.indicator_facts.evidence_age_years IS 'evidence_year minus the evaluation year: negative for older evidence, positive for newer';
COMMENT ON COLUMN marts.indicator_facts.citation_url IS 'Where the evidence can be read: the cited URL, the published table''s or page''s URL, or the request dataset''s page (with evidence_sha256s for the archived responses)';
COMMENT ON COLUMN marts.indicator_facts.naive_value IS 'Close-time indicators: the naive figure over closed requests only, beside the Kaplan-Meier raw_value (open requests censored)';
COMMENT ON COLUMN marts.indicator_facts.run_id IS 'Dagster run that computed the row';

CREATE TABLE IF NOT EXISTS marts.city_ranking (
    city_id VARCHAR NOT NULL,
    city_name VARCHAR NOT NULL,
    rank INTEGER,
    score DOUBLE,
    process_score DOUBLE,
    collaborative_score DOUBLE,
    smart_score DOUBLE,
    responsive_score DOUBLE,
    coverage DOUBLE NOT NULL,
    below_coverage_threshold BOOLEAN NOT NULL,
    rank_p05 INTEGER,
    rank_median DOUBLE,
    rank_p95 INTEGER,
    curated_share DOUBLE,
    evidence_date DATE,
    data_mode VARCHAR NOT NULL,
    is_synthetic BOOLEAN NOT NULL,
    run_id VARCHAR NOT NULL,
    real_share DOUBLE,
    unranked_reason VARCHAR,
    hotline_brand VARCHAR,
    hotline_numbers VARCHAR[],
    hotline_type VARCHAR
);
ALTER TABLE marts.city_ranking ADD COLUMN IF NOT EXISTS real_share DOUBLE;
ALTER TABLE marts.city_ranking ADD COLUMN IF NOT EXISTS unranked_reason VARCHAR;
ALTER TABLE marts.city_ranking ADD COLUMN IF NOT EXISTS hotline_brand VARCHAR;
ALTER TABLE marts.city_ranking ADD COLUMN IF NOT EXISTS hotline_numbers VARCHAR[];
ALTER TABLE marts.city_ranking ADD COLUMN IF NOT EXISTS hotline_type VARCHAR;
COMMENT ON TABLE marts.city_ranking IS 'One row per registered city: rank, composite score and its parts; cities without data are listed with a null score and coverage 0';
COMMENT ON COLUMN marts.city_ranking.city_id IS 'Registry city id';
COMMENT ON COLUMN marts.city_ranking.city_name IS 'City name in English';
COMMENT ON COLUMN marts.city_ranking.rank IS 'Rank by score, 1 is best, ties sharing the best rank; null when the city is not ranked (unranked_reason says why)';
COMMENT ON COLUMN marts.city_ranking.real_share IS 'Share of the city''s covered weight resting on real evidence (cited facts, real statistics, live feeds and pages) rather than the demo archive''s invented records';
COMMENT ON COLUMN marts.city_ranking.unranked_reason IS 'Why a city has no rank: its coverage below the threshold and the primary indicators it lacks evidence for; null for a ranked city';
COMMENT ON COLUMN marts.city_ranking.hotline_brand IS 'The hotline''s name (registry)';
COMMENT ON COLUMN marts.city_ranking.hotline_numbers IS 'The hotline''s numbers (registry)';
COMMENT ON COLUMN marts.city_ranking.hotline_type IS 'The hotline type the 2024 report names the city an example of; null where it names none';
COMMENT ON COLUMN marts.city_ranking.score IS 'Composite score, 0 to 100';
COMMENT ON COLUMN marts.city_ranking.process_score IS 'Process governance score, 0 to 100';
COMMENT ON COLUMN marts.city_ranking.collaborative_score IS 'Collaborative governance score, 0 to 100';
COMMENT ON COLUMN marts.city_ranking.smart_score IS 'Smart governance score, 0 to 100';
COMMENT ON COLUMN marts.city_ranking.responsive_score IS 'Responsive governance score, 0 to 100';
COMMENT ON COLUMN marts.city_ranking.coverage IS 'Share of the indicator weight the city has evidence for (0 to 1)';
COMMENT ON COLUMN marts.city_ranking.below_coverage_threshold IS 'True when coverage is below the configured threshold: the rank is not comparable to complete cities';
COMMENT ON COLUMN marts.city_ranking.rank_p05 IS '5th percentile of the rank over the Monte Carlo draws';
COMMENT ON COLUMN marts.city_ranking.rank_median IS 'Median rank over the Monte Carlo draws';
COMMENT ON COLUMN marts.city_ranking.rank_p95 IS '95th percentile of the rank over the Monte Carlo draws';
COMMENT ON COLUMN marts.city_ranking.curated_share IS 'Share of the score resting on curated evidence (config/evidence.csv)';
COMMENT ON COLUMN marts.city_ranking.evidence_date IS 'Date of the newest evidence behind the score';
COMMENT ON COLUMN marts.city_ranking.data_mode IS 'demo when any evidence is invented demo data, live otherwise';
COMMENT ON COLUMN marts.city_ranking.is_synthetic IS 'True when any evidence behind the row is invented demo data';
COMMENT ON COLUMN marts.city_ranking.run_id IS 'Dagster run that computed the row';

CREATE TABLE IF NOT EXISTS marts.primary_scores (
    city_id VARCHAR NOT NULL,
    primary_id VARCHAR NOT NULL,
    score DOUBLE,
    coverage DOUBLE NOT NULL,
    run_id VARCHAR NOT NULL
);
COMMENT ON TABLE marts.primary_scores IS 'Score of each city on each primary indicator (process, collaborative, smart, responsive governance), long form';
COMMENT ON COLUMN marts.primary_scores.city_id IS 'Registry city id';
COMMENT ON COLUMN marts.primary_scores.primary_id IS 'process, collaborative, smart or responsive';
COMMENT ON COLUMN marts.primary_scores.score IS 'Score 0-100; null when the city has no evidence under it';
COMMENT ON COLUMN marts.primary_scores.coverage IS 'Share of the primary indicator''s weight with evidence';
COMMENT ON COLUMN marts.primary_scores.run_id IS 'Dagster run that computed the row';
ALTER TABLE marts.primary_scores ADD COLUMN IF NOT EXISTS is_synthetic BOOLEAN;
ALTER TABLE marts.primary_scores ADD COLUMN IF NOT EXISTS data_mode VARCHAR;
COMMENT ON COLUMN marts.primary_scores.is_synthetic IS 'True when any of the city''s values under the primary indicator rests on invented demo data';
COMMENT ON COLUMN marts.primary_scores.data_mode IS 'demo when any evidence of the run is invented demo data, live otherwise (as marts.city_ranking.data_mode)';

CREATE TABLE IF NOT EXISTS marts.secondary_scores (
    city_id VARCHAR NOT NULL,
    primary_id VARCHAR NOT NULL,
    secondary_id VARCHAR NOT NULL,
    score DOUBLE,
    coverage DOUBLE NOT NULL,
    run_id VARCHAR NOT NULL
);
COMMENT ON TABLE marts.secondary_scores IS 'Score of each city on each of the 10 secondary indicators, long form';
COMMENT ON COLUMN marts.secondary_scores.city_id IS 'Registry city id';
COMMENT ON COLUMN marts.secondary_scores.primary_id IS 'Primary indicator the secondary belongs to';
COMMENT ON COLUMN marts.secondary_scores.secondary_id IS 'Secondary indicator id (config/indicators.yaml)';
COMMENT ON COLUMN marts.secondary_scores.score IS 'Score 0-100; null when the city has no evidence under it';
COMMENT ON COLUMN marts.secondary_scores.coverage IS 'Share of the secondary indicator''s weight with evidence';
COMMENT ON COLUMN marts.secondary_scores.run_id IS 'Dagster run that computed the row';
ALTER TABLE marts.secondary_scores ADD COLUMN IF NOT EXISTS is_synthetic BOOLEAN;
ALTER TABLE marts.secondary_scores ADD COLUMN IF NOT EXISTS data_mode VARCHAR;
COMMENT ON COLUMN marts.secondary_scores.is_synthetic IS 'True when any of the city''s values under the secondary indicator rests on invented demo data';
COMMENT ON COLUMN marts.secondary_scores.data_mode IS 'demo when any evidence of the run is invented demo data, live otherwise (as marts.city_ranking.data_mode)';

CREATE TABLE IF NOT EXISTS marts.city_explanations (
    city_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    position INTEGER NOT NULL,
    indicator_id VARCHAR NOT NULL,
    contribution DOUBLE,
    explanation VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL
);
COMMENT ON TABLE marts.city_explanations IS 'Per city up to three strengths and three weaknesses (by the about-the-same rule in hotline_eval/evaluation/explain.py), with the points each adds to the score, in plain words';
COMMENT ON COLUMN marts.city_explanations.city_id IS 'Registry city id';
COMMENT ON COLUMN marts.city_explanations.kind IS 'strongest, weakest, or middling (one row for a city with neither: the indicator adding the most points)';
COMMENT ON COLUMN marts.city_explanations.position IS '1 to 3 within its kind';
COMMENT ON COLUMN marts.city_explanations.indicator_id IS 'Tertiary indicator id';
COMMENT ON COLUMN marts.city_explanations.contribution IS 'Points the indicator adds to the 0-100 score';
COMMENT ON COLUMN marts.city_explanations.explanation IS 'The indicator, the city''s value and where it stands among the cities, in plain words';
COMMENT ON COLUMN marts.city_explanations.run_id IS 'Dagster run that computed the row';
ALTER TABLE marts.city_explanations ADD COLUMN IF NOT EXISTS is_synthetic BOOLEAN;
ALTER TABLE marts.city_explanations ADD COLUMN IF NOT EXISTS data_mode VARCHAR;
COMMENT ON COLUMN marts.city_explanations.is_synthetic IS 'True when any of the city''s values rests on invented demo data';
COMMENT ON COLUMN marts.city_explanations.data_mode IS 'demo when any evidence of the run is invented demo data, live otherwise (as marts.city_ranking.data_mode)';

CREATE TABLE IF NOT EXISTS marts.rank_sensitivity (
    city_id VARCHAR NOT NULL,
    indicator_id VARCHAR NOT NULL,
    rank INTEGER NOT NULL,
    rank_without DOUBLE,
    rank_shift DOUBLE,
    run_id VARCHAR NOT NULL
);
COMMENT ON TABLE marts.rank_sensitivity IS 'Leave-one-indicator-out: each ranked city''s rank with one tertiary indicator removed (weights re-spread)';
COMMENT ON COLUMN marts.rank_sensitivity.city_id IS 'Registry city id';
COMMENT ON COLUMN marts.rank_sensitivity.indicator_id IS 'The indicator left out';
COMMENT ON COLUMN marts.rank_sensitivity.rank IS 'Rank with every indicator';
COMMENT ON COLUMN marts.rank_sensitivity.rank_without IS 'Rank without the indicator';
COMMENT ON COLUMN marts.rank_sensitivity.rank_shift IS 'rank_without - rank: positive means the indicator helps the city';
COMMENT ON COLUMN marts.rank_sensitivity.run_id IS 'Dagster run that computed the row';
ALTER TABLE marts.rank_sensitivity ADD COLUMN IF NOT EXISTS is_synthetic BOOLEAN;
ALTER TABLE marts.rank_sensitivity ADD COLUMN IF NOT EXISTS data_mode VARCHAR;
COMMENT ON COLUMN marts.rank_sensitivity.is_synthetic IS 'True when any of the city''s values rests on invented demo data';
COMMENT ON COLUMN marts.rank_sensitivity.data_mode IS 'demo when any evidence of the run is invented demo data, live otherwise (as marts.city_ranking.data_mode)';

CREATE TABLE IF NOT EXISTS marts.city_capabilities (
    city_id VARCHAR NOT NULL,
    indicator_id VARCHAR NOT NULL,
    capability VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL
);
COMMENT ON TABLE marts.city_capabilities IS 'What each city''s data can support: city x tertiary indicator -> supported, partial or unsupported, with the reason from the data';
COMMENT ON COLUMN marts.city_capabilities.city_id IS 'Registry city id';
COMMENT ON COLUMN marts.city_capabilities.indicator_id IS 'Tertiary indicator id';
COMMENT ON COLUMN marts.city_capabilities.capability IS 'supported, partial (part of all requests, or published aggregates) or unsupported (scored as missing)';
COMMENT ON COLUMN marts.city_capabilities.reason IS 'Why, from the data: e.g. the city''s feed publishes no closed_at';
COMMENT ON COLUMN marts.city_capabilities.run_id IS 'Dagster run that computed the row';
ALTER TABLE marts.city_capabilities ADD COLUMN IF NOT EXISTS is_synthetic BOOLEAN;
ALTER TABLE marts.city_capabilities ADD COLUMN IF NOT EXISTS data_mode VARCHAR;
COMMENT ON COLUMN marts.city_capabilities.is_synthetic IS 'True when any of the value rests on invented demo data';
COMMENT ON COLUMN marts.city_capabilities.data_mode IS 'demo when any evidence of the run is invented demo data, live otherwise (as marts.city_ranking.data_mode)';

CREATE TABLE IF NOT EXISTS marts.request_month_parts (
    city_id VARCHAR NOT NULL,
    partition_month VARCHAR NOT NULL,
    created_min TIMESTAMPTZ,
    created_max TIMESTAMPTZ,
    n_all BIGINT NOT NULL,
    n_located BIGINT NOT NULL,
    n_not_cancelled BIGINT NOT NULL,
    n_within_7_days BIGINT NOT NULL,
    n_closed BIGINT NOT NULL,
    n_closed_with_text BIGINT NOT NULL,
    n_close_times BIGINT NOT NULL,
    n_channel BIGINT NOT NULL,
    n_digital BIGINT NOT NULL,
    n_agency BIGINT NOT NULL,
    n_repeats BIGINT NOT NULL,
    channels STRUCT(channel VARCHAR, n BIGINT)[] NOT NULL,
    agencies STRUCT(agency VARCHAR, n BIGINT)[] NOT NULL,
    sha256s VARCHAR[] NOT NULL,
    is_synthetic BOOLEAN NOT NULL,
    staged_at TIMESTAMPTZ,
    parts_version VARCHAR NOT NULL,
    computed_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE marts.request_month_parts IS 'Per city-month partition of staging.service_requests: the counts, tallies and repeats the request-level indicators add up per period (sql/marts/request_month_parts.sql); recomputed only for partitions staged since';
COMMENT ON COLUMN marts.request_month_parts.city_id IS 'Registry city id';
COMMENT ON COLUMN marts.request_month_parts.partition_month IS 'Partition month (YYYY-MM) in the city''s local time';
COMMENT ON COLUMN marts.request_month_parts.created_min IS 'Earliest creation time in the partition (UTC)';
COMMENT ON COLUMN marts.request_month_parts.created_max IS 'Latest creation time in the partition (UTC)';
COMMENT ON COLUMN marts.request_month_parts.n_all IS 'Requests';
COMMENT ON COLUMN marts.request_month_parts.n_located IS 'Requests with coordinates';
COMMENT ON COLUMN marts.request_month_parts.n_not_cancelled IS 'Requests not cancelled';
COMMENT ON COLUMN marts.request_month_parts.n_within_7_days IS 'Requests not cancelled and closed within 168 hours of creation (possible close times only)';
COMMENT ON COLUMN marts.request_month_parts.n_closed IS 'Requests with status closed';
COMMENT ON COLUMN marts.request_month_parts.n_closed_with_text IS 'Closed requests with a resolution text';
COMMENT ON COLUMN marts.request_month_parts.n_close_times IS 'Requests the close-time quantiles use (not cancelled, no impossible or placeholder dates)';
COMMENT ON COLUMN marts.request_month_parts.n_channel IS 'Requests with a known channel';
COMMENT ON COLUMN marts.request_month_parts.n_digital IS 'Requests through a digital channel';
COMMENT ON COLUMN marts.request_month_parts.n_agency IS 'Requests with an agency';
COMMENT ON COLUMN marts.request_month_parts.n_repeats IS 'Requests with the same category and place (about 100 m) as an earlier request within 7 days, which may be in the previous month';
COMMENT ON COLUMN marts.request_month_parts.channels IS 'Requests per known channel';
COMMENT ON COLUMN marts.request_month_parts.agencies IS 'Requests per agency';
COMMENT ON COLUMN marts.request_month_parts.sha256s IS 'sha256 of every archived response behind the partition''s rows (raw.http_archive.sha256)';
COMMENT ON COLUMN marts.request_month_parts.is_synthetic IS 'True when any of the partition''s rows is invented demo data';
COMMENT ON COLUMN marts.request_month_parts.staged_at IS 'staging.staged_partitions.staged_at of the staging rows the parts were computed from (null: no staging state, recomputed every run)';
COMMENT ON COLUMN marts.request_month_parts.parts_version IS 'sha256 of the SQL and parameters that computed the parts; another version is recomputed';
COMMENT ON COLUMN marts.request_month_parts.computed_at IS 'When the parts were computed (UTC)';

CREATE TABLE IF NOT EXISTS marts.close_times_monthly (
    city_id VARCHAR NOT NULL,
    month VARCHAR NOT NULL,
    km_median_hours DOUBLE,
    naive_median_hours DOUBLE,
    km_p90_hours DOUBLE,
    naive_p90_hours DOUBLE,
    n_requests BIGINT NOT NULL,
    n_closed BIGINT NOT NULL,
    is_synthetic BOOLEAN NOT NULL,
    data_mode VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL
);
COMMENT ON TABLE marts.close_times_monthly IS 'Per city and month of creation in the evaluation year: hours to close, the Kaplan-Meier estimate (requests still open at the end of the year censored there) beside the naive figure over closed requests only';
COMMENT ON COLUMN marts.close_times_monthly.city_id IS 'Registry city id';
COMMENT ON COLUMN marts.close_times_monthly.month IS 'Month the requests were created in (YYYY-MM, the city''s local time)';
COMMENT ON COLUMN marts.close_times_monthly.km_median_hours IS 'Kaplan-Meier median hours to close; null when fewer than half closed by the end of the year';
COMMENT ON COLUMN marts.close_times_monthly.naive_median_hours IS 'Median hours to close over closed requests only (understates the wait when many are still open)';
COMMENT ON COLUMN marts.close_times_monthly.km_p90_hours IS 'Kaplan-Meier 90th percentile hours to close; null when fewer than 90% closed by the end of the year';
COMMENT ON COLUMN marts.close_times_monthly.naive_p90_hours IS '90th percentile over closed requests only';
COMMENT ON COLUMN marts.close_times_monthly.n_requests IS 'Requests created in the month (cancelled and impossible dates left out)';
COMMENT ON COLUMN marts.close_times_monthly.n_closed IS 'Of them, closed by the end of the year';
COMMENT ON COLUMN marts.close_times_monthly.is_synthetic IS 'True when the city''s request data is invented demo data';
COMMENT ON COLUMN marts.close_times_monthly.data_mode IS 'demo when any evidence of the run is invented demo data, live otherwise';
COMMENT ON COLUMN marts.close_times_monthly.run_id IS 'Dagster run that computed the row';
