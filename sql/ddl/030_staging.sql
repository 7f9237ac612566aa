CREATE TABLE IF NOT EXISTS staging.service_requests (
    city_id VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    request_id VARCHAR NOT NULL,
    partition_month VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    closed_at TIMESTAMPTZ,
    status_raw VARCHAR,
    status VARCHAR NOT NULL,
    category_raw VARCHAR,
    category VARCHAR NOT NULL,
    channel_raw VARCHAR,
    channel VARCHAR NOT NULL,
    agency VARCHAR,
    district VARCHAR,
    latitude DOUBLE,
    longitude DOUBLE,
    resolution VARCHAR,
    quality_flags VARCHAR[] NOT NULL,
    is_synthetic BOOLEAN NOT NULL,
    sha256 VARCHAR NOT NULL
);
COMMENT ON TABLE staging.service_requests IS 'Service requests of every request-level feed in one model: UTC times, common status, category and channel';
COMMENT ON COLUMN staging.service_requests.city_id IS 'Registry city id';
COMMENT ON COLUMN staging.service_requests.source_id IS 'Registry source id';
COMMENT ON COLUMN staging.service_requests.request_id IS 'The source''s own request id; unique per city';
COMMENT ON COLUMN staging.service_requests.partition_month IS 'Month of creation in the city''s local time (YYYY-MM); the partition';
COMMENT ON COLUMN staging.service_requests.created_at IS 'Creation time in UTC (local floating times converted with the city''s IANA zone, DST included)';
COMMENT ON COLUMN staging.service_requests.closed_at IS 'Closing time in UTC; null while open or when the source gave a placeholder date';
COMMENT ON COLUMN staging.service_requests.status_raw IS 'Status as published';
COMMENT ON COLUMN staging.service_requests.status IS 'open, closed, cancelled or other (config/mappings/status.csv)';
COMMENT ON COLUMN staging.service_requests.category_raw IS 'Request type as published';
COMMENT ON COLUMN staging.service_requests.category IS 'Common taxonomy group (config/mappings/category.csv); unmapped values are ''unmapped''';
COMMENT ON COLUMN staging.service_requests.channel_raw IS 'Intake channel as published';
COMMENT ON COLUMN staging.service_requests.channel IS 'phone, web, mobile_app, sms, email, social, walk_in, chatbot, other or unknown (config/mappings/channel.csv)';
COMMENT ON COLUMN staging.service_requests.agency IS 'Responsible agency as published';
COMMENT ON COLUMN staging.service_requests.district IS 'District / borough / ward as published';
COMMENT ON COLUMN staging.service_requests.latitude IS 'WGS84 latitude; null when missing or a 0/0 placeholder';
COMMENT ON COLUMN staging.service_requests.longitude IS 'WGS84 longitude; null when missing or a 0/0 placeholder';
COMMENT ON COLUMN staging.service_requests.resolution IS 'Resolution text as published';
COMMENT ON COLUMN staging.service_requests.quality_flags IS 'Data-quality findings: placeholder_closed_date, closed_before_created, closed_within_minute, zero_coordinates, dst_gap_time, status_inferred, invalid_coordinates (a published coordinate that is not a number in range, nulled)';
COMMENT ON COLUMN staging.service_requests.is_synthetic IS 'True when the request comes from invented demo data';
COMMENT ON COLUMN staging.service_requests.sha256 IS 'sha256 of the archived response the record came from (raw.http_archive)';

CREATE TABLE IF NOT EXISTS staging.value_mappings (
    mapping VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    raw_value VARCHAR NOT NULL,
    mapped_value VARCHAR NOT NULL,
    mapping_file VARCHAR NOT NULL
);
COMMENT ON TABLE staging.value_mappings IS 'The versioned status, channel and category mappings (config/mappings/*.csv) as loaded for the last run';
COMMENT ON COLUMN staging.value_mappings.mapping IS 'status, channel or category';
COMMENT ON COLUMN staging.value_mappings.source_id IS 'Source the row applies to; * for every source';
COMMENT ON COLUMN staging.value_mappings.raw_value IS 'Published value, matched case-insensitively after trimming';
COMMENT ON COLUMN staging.value_mappings.mapped_value IS 'Common value it maps to';
COMMENT ON COLUMN staging.value_mappings.mapping_file IS 'File the row came from';

CREATE TABLE IF NOT EXISTS staging.hotline_stats (
    city_id VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    period VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    value DOUBLE NOT NULL,
    unit VARCHAR NOT NULL,
    source_url VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    is_synthetic BOOLEAN NOT NULL
);
COMMENT ON TABLE staging.hotline_stats IS 'Statistics cities publish about their hotline (volumes, answer, resolution and satisfaction rates), one row per period and metric';
COMMENT ON COLUMN staging.hotline_stats.city_id IS 'Registry city id';
COMMENT ON COLUMN staging.hotline_stats.source_id IS 'Registry source id';
COMMENT ON COLUMN staging.hotline_stats.period IS 'Period the value covers: YYYY-MM or YYYY';
COMMENT ON COLUMN staging.hotline_stats.metric IS 'calls_received, calls_answered, answer_rate, cases_received, cases_resolved, resolution_rate, satisfaction_rate, satisfaction_score, avg_wait_seconds, avg_handle_seconds, service_level_rate, abandonment_rate, ... (registry AGGREGATE_METRICS)';
COMMENT ON COLUMN staging.hotline_stats.value IS 'Published value';
COMMENT ON COLUMN staging.hotline_stats.unit IS 'Unit of the value (calls, cases, percent, seconds)';
COMMENT ON COLUMN staging.hotline_stats.source_url IS 'URL of the published table';
COMMENT ON COLUMN staging.hotline_stats.sha256 IS 'sha256 of the archived response (raw.http_archive)';
COMMENT ON COLUMN staging.hotline_stats.is_synthetic IS 'True when the value comes from invented demo data';

CREATE TABLE IF NOT EXISTS staging.curated_evidence (
    city_id VARCHAR NOT NULL,
    indicator_id VARCHAR NOT NULL,
    value DOUBLE NOT NULL,
    unit VARCHAR,
    period VARCHAR,
    start_year INTEGER,
    evidence_year INTEGER,
    months INTEGER,
    citation_url VARCHAR NOT NULL,
    citation_title VARCHAR NOT NULL,
    publisher VARCHAR,
    publication_date DATE,
    quote VARCHAR,
    quote_en VARCHAR,
    read_on DATE,
    note VARCHAR,
    source_file VARCHAR
);
-- databases from before cited facts had quotes and periods (config/evidence.csv): the table is rebuilt
-- from config on every run, so old columns go and new ones come
ALTER TABLE staging.curated_evidence DROP COLUMN IF EXISTS citation_date;
ALTER TABLE staging.curated_evidence ADD COLUMN IF NOT EXISTS unit VARCHAR;
ALTER TABLE staging.curated_evidence ADD COLUMN IF NOT EXISTS period VARCHAR;
ALTER TABLE staging.curated_evidence ADD COLUMN IF NOT EXISTS start_year INTEGER;
ALTER TABLE staging.curated_evidence ADD COLUMN IF NOT EXISTS evidence_year INTEGER;
ALTER TABLE staging.curated_evidence ADD COLUMN IF NOT EXISTS months INTEGER;
ALTER TABLE staging.curated_evidence ADD COLUMN IF NOT EXISTS publisher VARCHAR;
ALTER TABLE staging.curated_evidence ADD COLUMN IF NOT EXISTS publication_date DATE;
ALTER TABLE staging.curated_evidence ADD COLUMN IF NOT EXISTS quote VARCHAR;
ALTER TABLE staging.curated_evidence ADD COLUMN IF NOT EXISTS quote_en VARCHAR;
ALTER TABLE staging.curated_evidence ADD COLUMN IF NOT EXISTS read_on DATE;
ALTER TABLE staging.curated_evidence ADD COLUMN IF NOT EXISTS source_file VARCHAR;
COMMENT ON TABLE staging.curated_evidence IS 'Cited facts (config/evidence/<city_id>.csv): figures and statements a city''s reports and pages publish, each with its URL, title, publisher, date and quoted passage';
COMMENT ON COLUMN staging.curated_evidence.city_id IS 'Registry city id';
COMMENT ON COLUMN staging.curated_evidence.indicator_id IS 'Tertiary indicator the fact measures';
COMMENT ON COLUMN staging.curated_evidence.value IS 'The figure as published, in unit (converted to the indicator''s unit in marts.indicator_facts)';
COMMENT ON COLUMN staging.curated_evidence.unit IS 'Unit of value as published: percent, share, score A-B, seconds, yes/no, a count (agencies, hotlines, ...) or a volume (contacts per year)';
COMMENT ON COLUMN staging.curated_evidence.period IS 'What the figure describes: YYYY, YYYY-MM or a range YYYY-MM/YYYY-MM';
COMMENT ON COLUMN staging.curated_evidence.start_year IS 'First year of the period';
COMMENT ON COLUMN staging.curated_evidence.evidence_year IS 'Last year of the period (a fact counts as describing the year of its period nearest the evaluation year)';
COMMENT ON COLUMN staging.curated_evidence.months IS 'Months the period spans (volumes are annualized from them)';
COMMENT ON COLUMN staging.curated_evidence.citation_url IS 'URL the fact was read at';
COMMENT ON COLUMN staging.curated_evidence.citation_title IS 'Title of the cited page or document';
COMMENT ON COLUMN staging.curated_evidence.publisher IS 'Who published it';
COMMENT ON COLUMN staging.curated_evidence.publication_date IS 'Date the source states; null for an undated page';
COMMENT ON COLUMN staging.curated_evidence.quote IS 'The passage the value rests on, verbatim in the original language';
COMMENT ON COLUMN staging.curated_evidence.quote_en IS 'English gloss of the quote';
COMMENT ON COLUMN staging.curated_evidence.read_on IS 'Date the source was read';
COMMENT ON COLUMN staging.curated_evidence.note IS 'What is needed to read the figure (target, scale, what is counted)';
COMMENT ON COLUMN staging.curated_evidence.source_file IS 'File under config/evidence/ the row comes from';

CREATE TABLE IF NOT EXISTS staging.portal_features (
    city_id VARCHAR NOT NULL,
    feature VARCHAR NOT NULL,
    value VARCHAR,
    value_num DOUBLE,
    evidence VARCHAR,
    source_url VARCHAR NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL,
    sha256 VARCHAR NOT NULL,
    is_synthetic BOOLEAN NOT NULL
);
COMMENT ON TABLE staging.portal_features IS 'Features of each hotline read from its official pages: channels, hours, languages, FAQ size, ...; one row per city, feature and page';
COMMENT ON COLUMN staging.portal_features.city_id IS 'Registry city id';
COMMENT ON COLUMN staging.portal_features.feature IS 'Feature id: channel_phone ... channel_chatbot, open_24_7, languages, online_case_tracking, faq_size, service_catalogue_size, open_data_published, accessibility_tty, accessibility_sign_language, agencies_integrated, pages_read';
COMMENT ON COLUMN staging.portal_features.value IS 'Value as text (a language list, yes)';
COMMENT ON COLUMN staging.portal_features.value_num IS 'Value as a number where it is one (counts)';
COMMENT ON COLUMN staging.portal_features.evidence IS 'Short plain-text snippet of the page around what was found';
COMMENT ON COLUMN staging.portal_features.source_url IS 'Page the feature was read from';
COMMENT ON COLUMN staging.portal_features.fetched_at IS 'When the page was fetched (UTC)';
COMMENT ON COLUMN staging.portal_features.sha256 IS 'sha256 of the archived page (raw.http_archive)';
COMMENT ON COLUMN staging.portal_features.is_synthetic IS 'True when the page is invented demo content';

CREATE TABLE IF NOT EXISTS staging.service_catalog (
    city_id VARCHAR NOT NULL,
    service_code VARCHAR NOT NULL,
    name VARCHAR,
    "group" VARCHAR,
    agency VARCHAR,
    keywords VARCHAR,
    sha256 VARCHAR NOT NULL,
    is_synthetic BOOLEAN NOT NULL
);
COMMENT ON TABLE staging.service_catalog IS 'Services in each hotline''s published directory (Open311 services.json/xml or an HTML catalogue)';
COMMENT ON COLUMN staging.service_catalog.city_id IS 'Registry city id';
COMMENT ON COLUMN staging.service_catalog.service_code IS 'Service code as published (always text)';
COMMENT ON COLUMN staging.service_catalog.name IS 'Service name';
COMMENT ON COLUMN staging.service_catalog."group" IS 'Service group or category';
COMMENT ON COLUMN staging.service_catalog.agency IS 'Responsible agency, when published';
COMMENT ON COLUMN staging.service_catalog.keywords IS 'Published keywords';
COMMENT ON COLUMN staging.service_catalog.sha256 IS 'sha256 of the archived directory response';
COMMENT ON COLUMN staging.service_catalog.is_synthetic IS 'True when the directory is invented demo content';
-- added after the first release: existing files gain the column, earlier rows count as complete
ALTER TABLE staging.service_catalog ADD COLUMN IF NOT EXISTS is_complete_directory BOOLEAN DEFAULT true;
COMMENT ON COLUMN staging.service_catalog.is_complete_directory IS 'False when the directory lists only the services seen in a request feed (a lower bound of the catalogue, not counted as its size)';
-- added for issue #19: a city may publish several directories (one per language); each keeps its rows
ALTER TABLE staging.service_catalog ADD COLUMN IF NOT EXISTS directory_url VARCHAR;
COMMENT ON COLUMN staging.service_catalog.directory_url IS 'URL of the directory the row was read from (a city may publish several, e.g. one per language; a service listed in each counts once in the catalogue size); NULL for rows written before the column existed';

CREATE TABLE IF NOT EXISTS staging.staged_partitions (
    city_id VARCHAR NOT NULL,
    partition_month VARCHAR NOT NULL,
    staging_version VARCHAR NOT NULL,
    staged_at TIMESTAMPTZ NOT NULL,
    mode VARCHAR NOT NULL,
    rows_staged BIGINT NOT NULL
);
COMMENT ON TABLE staging.staged_partitions IS 'When each city-month partition was last staged, with which inputs, and whether whole or only its changed records';
COMMENT ON COLUMN staging.staged_partitions.city_id IS 'Registry city id';
COMMENT ON COLUMN staging.staged_partitions.partition_month IS 'Partition month (YYYY-MM) in the city''s local time';
COMMENT ON COLUMN staging.staged_partitions.staging_version IS 'sha256 of the staging inputs besides the raw rows (value mappings, time zone, date formats, staging logic version); a change re-stages the whole partition';
COMMENT ON COLUMN staging.staged_partitions.staged_at IS 'When the partition was last staged (UTC)';
COMMENT ON COLUMN staging.staged_partitions.mode IS 'full (every raw row staged) or delta (only records new or changed since)';
COMMENT ON COLUMN staging.staged_partitions.rows_staged IS 'Rows staged in that run (the whole partition in full mode)';
