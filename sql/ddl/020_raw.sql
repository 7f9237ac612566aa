CREATE TABLE IF NOT EXISTS raw.http_archive (
    request_key VARCHAR NOT NULL,
    source_id VARCHAR,
    method VARCHAR NOT NULL,
    url VARCHAR NOT NULL,
    status INTEGER NOT NULL,
    content_type VARCHAR,
    headers JSON,
    fetched_at TIMESTAMPTZ NOT NULL,
    sha256 VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    is_synthetic BOOLEAN NOT NULL,
    archive_dir VARCHAR NOT NULL,
    note VARCHAR,
    partition_key VARCHAR
);
COMMENT ON TABLE raw.http_archive IS 'One row per archived HTTP response: what was asked, what came back, and the sha256 of the exact bytes (bodies are files under the archive directory, bodies/<sha[:2]>/<sha256>)';
COMMENT ON COLUMN raw.http_archive.request_key IS 'sha256 of the method and canonical URL (sorted query, no secrets); the replay lookup key';
COMMENT ON COLUMN raw.http_archive.source_id IS 'Registry source the request was made for';
COMMENT ON COLUMN raw.http_archive.method IS 'HTTP method (GET)';
COMMENT ON COLUMN raw.http_archive.url IS 'Canonical URL with its query string; app tokens are sent as headers and never stored';
COMMENT ON COLUMN raw.http_archive.status IS 'HTTP status code of the final response';
COMMENT ON COLUMN raw.http_archive.content_type IS 'Content-Type header of the response';
COMMENT ON COLUMN raw.http_archive.headers IS 'Selected response headers (content type, dates, ETag, Socrata field lists) as JSON';
COMMENT ON COLUMN raw.http_archive.fetched_at IS 'When the response was received (UTC)';
COMMENT ON COLUMN raw.http_archive.sha256 IS 'sha256 of the response body; downstream rows carry it as evidence';
COMMENT ON COLUMN raw.http_archive.size_bytes IS 'Body size in bytes';
COMMENT ON COLUMN raw.http_archive.is_synthetic IS 'True when the archived body was invented (the bundled demo archive), not fetched from the source';
COMMENT ON COLUMN raw.http_archive.archive_dir IS 'Archive directory holding the body';
COMMENT ON COLUMN raw.http_archive.note IS 'Free-text note from the archive entry';
COMMENT ON COLUMN raw.http_archive.partition_key IS 'Dagster partition the request was made for (city|month); null for unpartitioned fetches';

CREATE TABLE IF NOT EXISTS raw.service_request_records (
    city_id VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    partition_month VARCHAR NOT NULL,
    request_id VARCHAR NOT NULL,
    created_raw VARCHAR,
    closed_raw VARCHAR,
    updated_raw VARCHAR,
    status_raw VARCHAR,
    category_raw VARCHAR,
    channel_raw VARCHAR,
    agency_raw VARCHAR,
    district_raw VARCHAR,
    latitude_raw VARCHAR,
    longitude_raw VARCHAR,
    resolution_raw VARCHAR,
    source_updated_at VARCHAR,
    page_number INTEGER NOT NULL,
    sha256 VARCHAR NOT NULL,
    is_synthetic BOOLEAN NOT NULL
);
COMMENT ON TABLE raw.service_request_records IS 'One row per source record of a request-level feed, values exactly as published (text), one version per request id and partition';
COMMENT ON COLUMN raw.service_request_records.city_id IS 'Registry city id';
COMMENT ON COLUMN raw.service_request_records.source_id IS 'Registry source id';
COMMENT ON COLUMN raw.service_request_records.partition_month IS 'Partition month (YYYY-MM) in the city''s local time, by creation date';
COMMENT ON COLUMN raw.service_request_records.request_id IS 'The source''s own request id';
COMMENT ON COLUMN raw.service_request_records.created_raw IS 'Creation timestamp as published (often local time without zone)';
COMMENT ON COLUMN raw.service_request_records.closed_raw IS 'Closing timestamp as published';
COMMENT ON COLUMN raw.service_request_records.updated_raw IS 'Last update or resolution timestamp as published';
COMMENT ON COLUMN raw.service_request_records.status_raw IS 'Status as published';
COMMENT ON COLUMN raw.service_request_records.category_raw IS 'Request type / complaint type as published';
COMMENT ON COLUMN raw.service_request_records.channel_raw IS 'Intake channel as published';
COMMENT ON COLUMN raw.service_request_records.agency_raw IS 'Responsible agency as published';
COMMENT ON COLUMN raw.service_request_records.district_raw IS 'District / borough / ward as published';
COMMENT ON COLUMN raw.service_request_records.latitude_raw IS 'Latitude as published';
COMMENT ON COLUMN raw.service_request_records.longitude_raw IS 'Longitude as published';
COMMENT ON COLUMN raw.service_request_records.resolution_raw IS 'Resolution text as published';
COMMENT ON COLUMN raw.service_request_records.source_updated_at IS 'Platform row-update stamp (Socrata :updated_at) used for incremental pulls';
COMMENT ON COLUMN raw.service_request_records.page_number IS 'Page of the paged response the record came from (0-based)';
COMMENT ON COLUMN raw.service_request_records.sha256 IS 'sha256 of the archived response page (raw.http_archive.sha256)';
COMMENT ON COLUMN raw.service_request_records.is_synthetic IS 'True when the record comes from invented demo data';

CREATE TABLE IF NOT EXISTS raw.rejects (
    city_id VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    partition_key VARCHAR NOT NULL,
    request_id VARCHAR,
    reason VARCHAR NOT NULL,
    record JSON,
    sha256 VARCHAR,
    is_synthetic BOOLEAN NOT NULL,
    stage VARCHAR NOT NULL
);
COMMENT ON TABLE raw.rejects IS 'Source records that could not be staged, each with the reason; nothing is dropped silently';
COMMENT ON COLUMN raw.rejects.city_id IS 'Registry city id';
COMMENT ON COLUMN raw.rejects.source_id IS 'Registry source id';
COMMENT ON COLUMN raw.rejects.partition_key IS 'Partition the record was processed in (YYYY-MM)';
COMMENT ON COLUMN raw.rejects.request_id IS 'The source''s request id, when it had one';
COMMENT ON COLUMN raw.rejects.reason IS 'Why the record was rejected';
COMMENT ON COLUMN raw.rejects.record IS 'The raw values of the rejected record';
COMMENT ON COLUMN raw.rejects.sha256 IS 'sha256 of the archived response it came from';
COMMENT ON COLUMN raw.rejects.is_synthetic IS 'True when the record comes from invented demo data';
COMMENT ON COLUMN raw.rejects.stage IS 'Where the record was rejected: fetch (not a record, no id) or stage (dates)';

CREATE TABLE IF NOT EXISTS raw.fetch_log (
    source_id VARCHAR NOT NULL,
    city_id VARCHAR NOT NULL,
    partition_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL,
    status VARCHAR NOT NULL,
    refresh VARCHAR NOT NULL,
    rows_landed BIGINT NOT NULL,
    pages INTEGER NOT NULL,
    error VARCHAR
);
COMMENT ON TABLE raw.fetch_log IS 'One row per fetch attempt of a source partition: succeeded or failed, and why; a failed fetch writes nothing else';
COMMENT ON COLUMN raw.fetch_log.source_id IS 'Registry source id';
COMMENT ON COLUMN raw.fetch_log.city_id IS 'Registry city id';
COMMENT ON COLUMN raw.fetch_log.partition_key IS 'Partition (YYYY-MM for request feeds, * for unpartitioned sources)';
COMMENT ON COLUMN raw.fetch_log.run_id IS 'Dagster run id';
COMMENT ON COLUMN raw.fetch_log.fetched_at IS 'When the attempt ended (UTC)';
COMMENT ON COLUMN raw.fetch_log.status IS 'ok or failed';
COMMENT ON COLUMN raw.fetch_log.refresh IS 'full (the whole partition), incremental (changes since the cursor) or accumulate (a poll merged by request id into what earlier polls landed)';
COMMENT ON COLUMN raw.fetch_log.rows_landed IS 'Rows written (0 when failed)';
COMMENT ON COLUMN raw.fetch_log.pages IS 'Pages or files fetched';
COMMENT ON COLUMN raw.fetch_log.error IS 'The error, when failed';

CREATE TABLE IF NOT EXISTS raw.source_fields (
    source_id VARCHAR NOT NULL,
    field_name VARCHAR NOT NULL,
    first_seen_partition VARCHAR NOT NULL,
    last_seen_partition VARCHAR NOT NULL
);
COMMENT ON TABLE raw.source_fields IS 'Fields each source has published, to detect schema drift (new or vanished fields)';
COMMENT ON COLUMN raw.source_fields.source_id IS 'Registry source id';
COMMENT ON COLUMN raw.source_fields.field_name IS 'Field name as published';
COMMENT ON COLUMN raw.source_fields.first_seen_partition IS 'Partition the field was first seen in';
COMMENT ON COLUMN raw.source_fields.last_seen_partition IS 'Partition the field was last seen in';

CREATE TABLE IF NOT EXISTS raw.run_failures (
    run_id VARCHAR NOT NULL,
    job_name VARCHAR NOT NULL,
    partition_key VARCHAR,
    asset_keys VARCHAR,
    step_key VARCHAR,
    error VARCHAR,
    failed_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE raw.run_failures IS 'Failed Dagster runs, recorded by the run-failure sensor: which job, partition, assets and step, and the error';
COMMENT ON COLUMN raw.run_failures.run_id IS 'Dagster run id (open it in the UI under /runs/<run_id>)';
COMMENT ON COLUMN raw.run_failures.job_name IS 'Job the run belonged to';
COMMENT ON COLUMN raw.run_failures.partition_key IS 'Partition of the run, when partitioned (city|month)';
COMMENT ON COLUMN raw.run_failures.asset_keys IS 'Assets the run was materializing';
COMMENT ON COLUMN raw.run_failures.step_key IS 'Step that failed';
COMMENT ON COLUMN raw.run_failures.error IS 'The error message';
COMMENT ON COLUMN raw.run_failures.failed_at IS 'When the failure was recorded (UTC)';

CREATE TABLE IF NOT EXISTS raw.page_fingerprints (
    city_id VARCHAR NOT NULL,
    url VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL,
    feature_count INTEGER NOT NULL,
    fetched_at TIMESTAMPTZ,
    sha256 VARCHAR
);
COMMENT ON TABLE raw.page_fingerprints IS 'Last good structure fingerprint of each hotline page, to detect layout drift';
COMMENT ON COLUMN raw.page_fingerprints.city_id IS 'Registry city id';
COMMENT ON COLUMN raw.page_fingerprints.url IS 'Page URL';
COMMENT ON COLUMN raw.page_fingerprints.fingerprint IS 'Structure fingerprint (tag/class skeleton sketch, not text)';
COMMENT ON COLUMN raw.page_fingerprints.feature_count IS 'Features the page yielded when it was last good';
COMMENT ON COLUMN raw.page_fingerprints.fetched_at IS 'When that good version was fetched';
COMMENT ON COLUMN raw.page_fingerprints.sha256 IS 'sha256 of that archived page';
