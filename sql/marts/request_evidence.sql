-- Per city: the partition months and archived responses (sha256) its request-level values for one
-- period rest on, and whether any of those rows are synthetic. Reads the view `request_rows`
-- (see request_measures.sql); distinct pages first, so millions of rows fold into thousands.
WITH pages AS (
    SELECT DISTINCT city_id, partition_month, sha256, is_synthetic
    FROM request_rows WHERE starts_with(partition_month, $period)
),
per_city AS (
    SELECT city_id, string_agg(DISTINCT partition_month, ',' ORDER BY partition_month) AS months,
           list(DISTINCT sha256 ORDER BY sha256) AS evidence_sha256s, bool_or(is_synthetic) AS is_synthetic
    FROM pages GROUP BY city_id
)
SELECT city_id, format('city_id={}; partition_month in [{}]', city_id, months) AS evidence_keys,
       evidence_sha256s, is_synthetic
FROM per_city ORDER BY city_id
