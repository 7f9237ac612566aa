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
COMMENT ON COLUMN staging.service_requests.quality_flags IS 'Data-quality findings: placeholder_closed_date, closed_before_created, zero_coordinates, ...';
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
