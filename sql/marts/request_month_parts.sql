-- The additive parts of the request-level measures, one row per city-month partition: counts for every
-- share, channel and agency tallies, the number of repeat requests and the archived pages. A city's
-- measure for a period is the sum of its partitions' parts (request_measures.sql), so a refresh needs
-- to recompute only the partitions that changed (hotline_eval/evaluation/request_parts.py keeps
-- marts.request_month_parts current). Nothing here depends on the evaluation period.
--
-- Reads two views the caller defines:
--   part_rows    the request rows of the partitions to compute;
--   repeat_rows  those rows plus, per city, every row created up to $repeat_days before them (a repeat
--                refers back to an earlier request, possibly in the previous month), with in_part true
--                for the rows of the partitions being computed.
-- Parameters: $digital (channels counted as digital), $bad_close (flags that make a close time
-- impossible), $km_excluded (flags left out of close-time quantiles), $repeat_days, $place_scale (10^d for
-- a place grid of d decimals of a degree).
WITH
monthly AS (
    -- sums of 0/1 rather than count(*) FILTER: about a fifth faster over 10M rows (benchmarks/README.md)
    SELECT city_id, partition_month,
           count(*) AS n_all,
           sum((latitude IS NOT NULL AND longitude IS NOT NULL)::INTEGER) AS n_located,
           sum((status <> 'cancelled')::INTEGER) AS n_not_cancelled,
           sum((status <> 'cancelled' AND closed_at IS NOT NULL AND NOT list_has_any(quality_flags, $bad_close)
                AND epoch_us(closed_at) - epoch_us(created_at) <= 168 * 3600e6)::INTEGER) AS n_within_7_days,
           sum((status = 'closed')::INTEGER) AS n_closed,
           sum((status = 'closed' AND resolution IS NOT NULL AND length(resolution) > 0)::INTEGER)
               AS n_closed_with_text,
           sum((status <> 'cancelled' AND NOT list_has_any(quality_flags, $km_excluded))::INTEGER) AS n_close_times,
           sum((channel <> 'unknown')::INTEGER) AS n_channel,
           sum((channel <> 'unknown' AND list_contains($digital, channel))::INTEGER) AS n_digital,
           count(agency) AS n_agency,
           min(created_at) AS created_min, max(created_at) AS created_max, bool_or(is_synthetic) AS is_synthetic
    FROM part_rows GROUP BY ALL
),
-- the archived pages apart: beside the counts, list(DISTINCT ... ORDER BY) made the whole aggregate
-- about 60% slower (1.3 s against 0.8 s for the counts and 0.1 s for this, at 10M)
pages AS (
    SELECT city_id, partition_month, list_sort(list(sha256)) AS sha256s
    FROM (SELECT DISTINCT city_id, partition_month, sha256 FROM part_rows)
    GROUP BY ALL
),
channels AS (
    SELECT city_id, partition_month, list({'channel': channel, 'n': n} ORDER BY channel) AS channels
    FROM (SELECT city_id, partition_month, channel, count(*) AS n
          FROM part_rows WHERE channel <> 'unknown' GROUP BY ALL)
    GROUP BY ALL
),
agencies AS (
    SELECT city_id, partition_month, list({'agency': agency, 'n': n} ORDER BY agency) AS agencies
    FROM (SELECT city_id, partition_month, agency, count(*) AS n
          FROM part_rows WHERE agency IS NOT NULL GROUP BY ALL)
    GROUP BY ALL
),
-- same category and place (about 100 m) as an earlier request within the window; no category, no
-- repeat. Ties in time across partitions are ordered by partition, so each partition's count is the
-- same however the rows were read. The window partitions on one BIGINT, because sorting millions of
-- tiny partitions by text keys cost several times as much (benchmarks/README.md): each (city, category)
-- is numbered from the few distinct pairs, and the place is numbered on the grid below, so one BIGINT
-- holds both (exactly: no hash). The counts are grouped by partition straight from the window's rows.
-- The place grid is the project's own rule, not an engine's rounding function (whose halves differ
-- between DuckDB versions, issue #16): with S = $place_scale = 10^d, a coordinate's cell is the integer
-- nearest to p = coordinate * S, halves away from zero, where p is the double product (the exact product
-- rounded to the nearest double, as every IEEE 754 multiplication does) and the rest is exact: floor,
-- abs, sign and the fraction |p| - floor(|p|) >= 0.5 are exact in doubles. So -33.8705 (p = -33870.5)
-- is cell -33871 and 12.3455 is 12346. Longitude cells wrap: 180 and -180 are one meridian, so cell
-- 180*S is cell -180*S. hotline_eval/evaluation/request_parts.py and config/indicators.yaml say the same;
-- tests/evaluation/test_request_parts.py checks it a hair either side of the cell edges.
located AS NOT MATERIALIZED (
    SELECT city_id, category, partition_month, in_part, created_us,
           (sign(p_lat) * (floor(abs(p_lat)) + (abs(p_lat) - floor(abs(p_lat)) >= 0.5)::INTEGER))::BIGINT
               + 90 * $place_scale::BIGINT AS lat_cell,  -- 0 .. 180*S
           ((sign(p_lon) * (floor(abs(p_lon)) + (abs(p_lon) - floor(abs(p_lon)) >= 0.5)::INTEGER))::BIGINT
               + 180 * $place_scale::BIGINT) % (360 * $place_scale::BIGINT) AS lon_cell  -- 0 .. 360*S - 1
    FROM (SELECT city_id, category, partition_month, in_part, epoch_us(created_at) AS created_us,
                 CASE WHEN latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180
                      THEN latitude * $place_scale::BIGINT
                      ELSE error('coordinates out of range: ' || latitude || ', ' || longitude)
                 END AS p_lat,
                 longitude * $place_scale::BIGINT AS p_lon
          FROM repeat_rows WHERE category IS NOT NULL AND latitude IS NOT NULL AND longitude IS NOT NULL)
),
city_categories AS (
    SELECT city_id, category, row_number() OVER (ORDER BY city_id, category) AS city_category
    FROM (SELECT DISTINCT city_id, category FROM located)
),
repeats AS (
    SELECT city_id, partition_month,
           count(*) FILTER (WHERE created_us - previous <= $repeat_days * 86400000000) AS n_repeats
    FROM (SELECT l.city_id, l.partition_month, l.in_part, l.created_us,
                 lag(l.created_us) OVER (
                     PARTITION BY (g.city_category * (180 * $place_scale::BIGINT + 1) + l.lat_cell)
                                  * (360 * $place_scale::BIGINT) + l.lon_cell
                     ORDER BY l.created_us, l.partition_month) AS previous
          FROM located l JOIN city_categories g USING (city_id, category))
    WHERE in_part
    GROUP BY ALL
)
SELECT m.city_id, m.partition_month, m.created_min, m.created_max,
       m.n_all, m.n_located, m.n_not_cancelled, m.n_within_7_days, m.n_closed, m.n_closed_with_text,
       m.n_close_times, m.n_channel, m.n_digital, m.n_agency, coalesce(r.n_repeats, 0) AS n_repeats,
       coalesce(c.channels, []) AS channels, coalesce(a.agencies, []) AS agencies,
       p.sha256s, m.is_synthetic
FROM monthly m
JOIN pages p USING (city_id, partition_month)
LEFT JOIN channels c USING (city_id, partition_month)
LEFT JOIN agencies a USING (city_id, partition_month)
LEFT JOIN repeats r USING (city_id, partition_month)
ORDER BY m.city_id, m.partition_month
