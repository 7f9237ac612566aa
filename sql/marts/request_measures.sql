-- Request-level measures per city for one evaluation period, in long form:
-- one row per (measure, city_id) with raw_value, naive_value, n_observations and months (the number
-- of distinct partition months the measure's rows span; coverage = months / 12).
--
-- Reads three views the caller defines: `request_parts` (the additive parts per city-month partition,
-- request_month_parts.sql: counts, tallies, repeats), `request_rows` (the columns of
-- staging.service_requests that the indicators use) for the backlog's median age, which does not add up
-- across partitions, and `close_time_quantiles` (per city: the Kaplan-Meier and naive quantiles of
-- hours to close, hotline_eval/evaluation/survival.py over request_close_times.sql). Aggregating where the rows
-- live keeps tens of millions of requests out of Python; the definitions follow
-- hotline_eval/evaluation/computations.py, whose docstrings say why each filter is there
-- (tests/evaluation/test_indicators_sql.py checks them).
--
-- Durations are exact (microseconds), not cut to whole seconds.
--
-- Parameters: $period (YYYY), $cutoff (TIMESTAMPTZ, start of the next period).
WITH
parts AS (SELECT * FROM request_parts WHERE starts_with(partition_month, $period)),
-- months with rows give each measure's coverage
per_city AS (
    SELECT city_id,
           sum(n_all) AS n_all, count(*) AS months_all,
           sum(n_located) AS n_located, count(*) FILTER (WHERE n_located > 0) AS months_located,
           sum(n_not_cancelled) AS n_not_cancelled, count(*) FILTER (WHERE n_not_cancelled > 0) AS months_not_cancelled,
           sum(n_within_7_days) AS n_within_7_days,
           sum(n_closed) AS n_closed, count(*) FILTER (WHERE n_closed > 0) AS months_closed,
           sum(n_closed_with_text) AS n_closed_with_text,
           sum(n_close_times) AS n_close_times, count(*) FILTER (WHERE n_close_times > 0) AS months_close_times,
           sum(n_channel) AS n_channel, count(*) FILTER (WHERE n_channel > 0) AS months_channel,
           sum(n_digital) AS n_digital,
           sum(n_agency) AS n_agency, count(*) FILTER (WHERE n_agency > 0) AS months_agency,
           sum(n_repeats) AS n_repeats
    FROM parts GROUP BY ALL
),
-- requests still open at the cut-off (a closed status without a close date is not open)
backlog AS (
    SELECT city_id, median((epoch_us($cutoff) - epoch_us(created_at)) / 86400e6) AS age_days,
           count(*) AS n_backlog, count(DISTINCT partition_month) AS months_backlog
    FROM request_rows
    WHERE starts_with(partition_month, $period) AND status <> 'cancelled'
      AND NOT (closed_at IS NOT NULL AND closed_at <= $cutoff) AND NOT (status = 'closed' AND closed_at IS NULL)
    GROUP BY ALL
),
channels AS (
    SELECT city_id, -sum(n / total * log2(n / total)) AS entropy_bits
    FROM (SELECT city_id, channel, sum(n) AS n, sum(sum(n)) OVER (PARTITION BY city_id) AS total
          FROM (SELECT city_id, unnest(channels, recursive := true) FROM parts) GROUP BY city_id, channel)
    GROUP BY ALL
),
agencies AS (
    SELECT city_id, sum((n / total) ** 2) AS hhi, count(*) AS breadth
    FROM (SELECT city_id, agency, sum(n) AS n, sum(sum(n)) OVER (PARTITION BY city_id) AS total
          FROM (SELECT city_id, unnest(agencies, recursive := true) FROM parts) GROUP BY city_id, agency)
    GROUP BY ALL
),
measures AS (
    SELECT 'median_hours_to_close' AS measure, c.city_id, k.median_hours AS raw_value, k.median_naive AS naive_value,
           c.n_close_times AS n_observations, c.months_close_times AS months
    FROM per_city c LEFT JOIN close_time_quantiles k USING (city_id) WHERE c.n_close_times > 0
    UNION ALL
    SELECT 'p90_hours_to_close', c.city_id, k.p90_hours, k.p90_naive, c.n_close_times, c.months_close_times
    FROM per_city c LEFT JOIN close_time_quantiles k USING (city_id) WHERE c.n_close_times > 0
    UNION ALL SELECT 'closed_within_7_days', city_id, n_within_7_days / n_not_cancelled, NULL, n_not_cancelled,
                     months_not_cancelled FROM per_city WHERE n_not_cancelled > 0
    UNION ALL SELECT 'closure_rate', city_id, n_closed / n_not_cancelled, NULL, n_not_cancelled, months_not_cancelled
              FROM per_city WHERE n_not_cancelled > 0
    UNION ALL SELECT 'open_backlog_age_days', city_id, age_days, NULL, n_backlog, months_backlog FROM backlog
    UNION ALL SELECT 'repeat_request_share', city_id, n_repeats / n_located, NULL, n_located, months_located
              FROM per_city WHERE n_located > 0
    UNION ALL SELECT 'geocoded_share', city_id, n_located / n_all, NULL, n_all, months_all FROM per_city
    UNION ALL SELECT 'requests', city_id, n_all, NULL, n_all, months_all FROM per_city
    UNION ALL SELECT 'resolution_text_completeness', city_id, n_closed_with_text / n_closed, NULL, n_closed, months_closed
              FROM per_city WHERE n_closed > 0
    UNION ALL SELECT 'digital_share', city_id, n_digital / n_channel, NULL, n_channel, months_channel
              FROM per_city WHERE n_channel > 0
    UNION ALL SELECT 'channel_diversity', city_id, c.entropy_bits, NULL, n_channel, months_channel
              FROM per_city JOIN channels c USING (city_id)
    UNION ALL SELECT 'agency_concentration_hhi', city_id, a.hhi, NULL, n_agency, months_agency
              FROM per_city JOIN agencies a USING (city_id)
    UNION ALL SELECT 'agency_breadth', city_id, a.breadth, NULL, n_agency, months_agency
              FROM per_city JOIN agencies a USING (city_id)
)
SELECT * FROM measures ORDER BY measure, city_id
