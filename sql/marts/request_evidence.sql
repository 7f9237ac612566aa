-- Per city: the partition months and archived responses (sha256) its request-level values for one
-- period rest on, and whether any of those rows are synthetic. Reads the view `request_parts`
-- (request_month_parts.sql: each partition's pages already listed once).
SELECT city_id,
       format('city_id={}; partition_month in [{}]', city_id, string_agg(partition_month, ',' ORDER BY partition_month))
           AS evidence_keys,
       list_sort(list_distinct(flatten(list(sha256s)))) AS evidence_sha256s, bool_or(is_synthetic) AS is_synthetic
FROM request_parts WHERE starts_with(partition_month, $period)
GROUP BY city_id ORDER BY city_id
