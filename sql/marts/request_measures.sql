-- Request-level measures per city for one evaluation period, in long form:
-- one row per (measure, city_id) with raw_value, naive_value, n_observations and months (the number
-- of distinct partition months the measure's rows span; coverage = months / 12).
--
-- Reads the view `request_rows` (the columns of staging.service_requests that the indicators use),
-- which the caller defines over staging.service_requests or over an Arrow table. Aggregating where
-- the rows live keeps tens of millions of requests out of Python; the definitions follow
-- hotline_eval/indicators.py, whose docstrings say why each filter is there, and the Kaplan-Meier
-- quantile is the one in hotline_eval/survival.py (tests/test_indicators_sql.py checks both).
--
-- Durations are exact (microseconds), not cut to whole seconds; a place is the coordinates rounded to
-- $place_decimals decimals, halves away from zero (DuckDB's round).
--
-- Parameters: $period (YYYY), $cutoff (TIMESTAMPTZ, start of the next period), $digital (channels
-- counted as digital), $bad_close (flags that make a close time impossible), $km_excluded (flags left
-- out of close-time quantiles), $repeat_days, $place_decimals.
WITH
base AS (
    SELECT city_id, partition_month, created_at, closed_at, status, category, channel, agency,
           latitude, longitude, resolution, quality_flags,
           closed_at IS NOT NULL AND closed_at <= $cutoff AS closed_by_cutoff,
           status <> 'cancelled' AS not_cancelled
    FROM request_rows
    WHERE starts_with(partition_month, $period)
),
-- one pass for every share: counts per city and month (months with rows give each measure's coverage)
monthly AS (
    SELECT city_id, partition_month,
           count(*) AS n_all,
           count(*) FILTER (WHERE latitude IS NOT NULL AND longitude IS NOT NULL) AS n_located,
           count(*) FILTER (WHERE not_cancelled) AS n_not_cancelled,
           count(*) FILTER (WHERE not_cancelled AND closed_at IS NOT NULL AND NOT list_has_any(quality_flags, $bad_close)
                            AND epoch_us(closed_at) - epoch_us(created_at) <= 168 * 3600e6) AS n_within_7_days,
           count(*) FILTER (WHERE status = 'closed') AS n_closed,
           count(*) FILTER (WHERE status = 'closed' AND resolution IS NOT NULL AND length(resolution) > 0)
               AS n_closed_with_text,
           count(*) FILTER (WHERE not_cancelled AND NOT closed_by_cutoff AND NOT (status = 'closed' AND closed_at IS NULL))
               AS n_backlog,
           count(*) FILTER (WHERE not_cancelled AND NOT list_has_any(quality_flags, $km_excluded)) AS n_close_times,
           count(*) FILTER (WHERE channel <> 'unknown') AS n_channel,
           count(*) FILTER (WHERE channel <> 'unknown' AND list_contains($digital, channel)) AS n_digital,
           count(*) FILTER (WHERE agency IS NOT NULL) AS n_agency
    FROM base GROUP BY ALL
),
per_city AS (
    SELECT city_id,
           sum(n_all) AS n_all, count(*) AS months_all,
           sum(n_located) AS n_located, count(*) FILTER (WHERE n_located > 0) AS months_located,
           sum(n_not_cancelled) AS n_not_cancelled, count(*) FILTER (WHERE n_not_cancelled > 0) AS months_not_cancelled,
           sum(n_within_7_days) AS n_within_7_days,
           sum(n_closed) AS n_closed, count(*) FILTER (WHERE n_closed > 0) AS months_closed,
           sum(n_closed_with_text) AS n_closed_with_text,
           sum(n_backlog) AS n_backlog, count(*) FILTER (WHERE n_backlog > 0) AS months_backlog,
           sum(n_close_times) AS n_close_times, count(*) FILTER (WHERE n_close_times > 0) AS months_close_times,
           sum(n_channel) AS n_channel, count(*) FILTER (WHERE n_channel > 0) AS months_channel,
           sum(n_digital) AS n_digital,
           sum(n_agency) AS n_agency, count(*) FILTER (WHERE n_agency > 0) AS months_agency
    FROM monthly GROUP BY ALL
),
-- close-time survival: every non-cancelled request with possible dates; open ones censored at the cutoff
km_times AS (
    SELECT city_id, hours, count(*) FILTER (WHERE closed) AS events, count(*) AS n
    FROM (SELECT city_id, closed_by_cutoff AS closed,
                 (epoch_us(CASE WHEN closed_by_cutoff THEN closed_at ELSE $cutoff END) - epoch_us(created_at))
                     / 3600e6 AS hours
          FROM base WHERE not_cancelled AND NOT list_has_any(quality_flags, $km_excluded))
    GROUP BY ALL
),
km_curve AS (
    SELECT city_id, hours, events,
           product(1 - events / at_risk) OVER (PARTITION BY city_id ORDER BY hours ROWS UNBOUNDED PRECEDING)
               AS survival,
           -- closes up to and including this time: the naive (closed-only) quantiles read positions off it
           sum(events) OVER (PARTITION BY city_id ORDER BY hours ROWS UNBOUNDED PRECEDING) AS closed_through,
           sum(events) OVER (PARTITION BY city_id) AS closed_total
    FROM (SELECT city_id, hours, events,
                 -- at risk at a time: every request whose duration is at least that long
                 sum(n) OVER (PARTITION BY city_id ORDER BY hours DESC ROWS UNBOUNDED PRECEDING) AS at_risk
          FROM km_times)
    WHERE events > 0
),
-- naive quantile as numpy's default (linear): the values at positions floor(q (N-1)) and the next one
km_positions AS (
    SELECT city_id, q, floor(q * (closed_total - 1)) AS low, q * (closed_total - 1) - floor(q * (closed_total - 1)) AS frac,
           closed_total
    FROM (SELECT DISTINCT city_id, closed_total FROM km_curve), (VALUES (0.5), (0.9)) qs(q)
),
km_quantiles AS (
    SELECT k.city_id,
           min(k.hours) FILTER (WHERE k.survival <= 0.5 + 1e-12) AS median_hours,
           min(k.hours) FILTER (WHERE k.survival <= 0.1 + 1e-12) AS p90_hours
    FROM km_curve k GROUP BY ALL
),
km_naive AS (
    SELECT p.city_id, p.q,
           min(k.hours) FILTER (WHERE k.closed_through > p.low) AS v0,
           min(k.hours) FILTER (WHERE k.closed_through > least(p.low + 1, p.closed_total - 1)) AS v1,
           any_value(p.frac) AS frac
    FROM km_positions p JOIN km_curve k USING (city_id) GROUP BY ALL
),
backlog AS (
    SELECT city_id, median((epoch_us($cutoff) - epoch_us(created_at)) / 86400e6) AS age_days
    FROM base
    WHERE not_cancelled AND NOT closed_by_cutoff AND NOT (status = 'closed' AND closed_at IS NULL)
    GROUP BY ALL
),
-- same category and place (about 100 m) as an earlier request within the window; no category, no repeat
repeats AS (
    SELECT city_id, count(*) FILTER (WHERE category IS NOT NULL AND created_at - previous <= to_days($repeat_days))
               AS n_repeats
    FROM (SELECT city_id, category, created_at,
                 lag(created_at) OVER (PARTITION BY city_id, category, round(latitude, $place_decimals),
                                                    round(longitude, $place_decimals) ORDER BY created_at) AS previous
          FROM base WHERE latitude IS NOT NULL AND longitude IS NOT NULL)
    GROUP BY ALL
),
channels AS (
    SELECT city_id, -sum(n / total * log2(n / total)) AS entropy_bits
    FROM (SELECT city_id, count(*) AS n, sum(count(*)) OVER (PARTITION BY city_id) AS total
          FROM base WHERE channel <> 'unknown' GROUP BY city_id, channel)
    GROUP BY ALL
),
agencies AS (
    SELECT city_id, sum((n / total) ** 2) AS hhi, count(*) AS breadth
    FROM (SELECT city_id, count(*) AS n, sum(count(*)) OVER (PARTITION BY city_id) AS total
          FROM base WHERE agency IS NOT NULL GROUP BY city_id, agency)
    GROUP BY ALL
),
measures AS (
    SELECT 'median_hours_to_close' AS measure, c.city_id, q.median_hours AS raw_value,
           n.v0 + n.frac * (n.v1 - n.v0) AS naive_value, c.n_close_times AS n_observations,
           c.months_close_times AS months
    FROM per_city c LEFT JOIN km_quantiles q USING (city_id) LEFT JOIN km_naive n ON n.city_id = c.city_id AND n.q = 0.5
    WHERE c.n_close_times > 0
    UNION ALL
    SELECT 'p90_hours_to_close', c.city_id, q.p90_hours, n.v0 + n.frac * (n.v1 - n.v0), c.n_close_times,
           c.months_close_times
    FROM per_city c LEFT JOIN km_quantiles q USING (city_id) LEFT JOIN km_naive n ON n.city_id = c.city_id AND n.q = 0.9
    WHERE c.n_close_times > 0
    UNION ALL SELECT 'closed_within_7_days', city_id, n_within_7_days / n_not_cancelled, NULL, n_not_cancelled,
                     months_not_cancelled FROM per_city WHERE n_not_cancelled > 0
    UNION ALL SELECT 'closure_rate', city_id, n_closed / n_not_cancelled, NULL, n_not_cancelled, months_not_cancelled
              FROM per_city WHERE n_not_cancelled > 0
    UNION ALL SELECT 'open_backlog_age_days', city_id, b.age_days, NULL, n_backlog, months_backlog
              FROM per_city JOIN backlog b USING (city_id)
    UNION ALL SELECT 'repeat_request_share', city_id, r.n_repeats / n_located, NULL, n_located, months_located
              FROM per_city JOIN repeats r USING (city_id)
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
