-- Staged requests per quality flag (a request with two flags counts under both).
SELECT flag, count(*) AS n FROM (SELECT unnest(quality_flags) AS flag FROM staging.service_requests)
GROUP BY ALL ORDER BY flag
