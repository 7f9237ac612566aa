-- Close times for the Kaplan-Meier estimate, per city: each distinct duration (hours from creation to
-- close, or to the cut-off for requests still open then) with how many requests closed at it (events)
-- and how many have it at all (n). hotline_eval/evaluation/survival.py (close_time_quantiles) sorts each city's
-- rows and reads the curve off them; request_measures.sql joins its result. Not sorted here: ordering
-- millions of rows by city name in DuckDB cost more than the whole estimate (1.2 s of 3 s at 10M).
--
-- Every non-cancelled request counts except those whose dates cannot be a real close ($km_excluded).
-- Durations are exact (microseconds), not cut to whole seconds.
--
-- Reads the view `request_rows` (the columns of staging.service_requests the indicators use).
-- Parameters: $period (YYYY), $cutoff (TIMESTAMPTZ, start of the next period), $km_excluded.
SELECT city_id, hours, count(*) FILTER (WHERE closed) AS events, count(*) AS n
FROM (SELECT city_id, closed,
             (epoch_us(CASE WHEN closed THEN closed_at ELSE $cutoff END) - epoch_us(created_at)) / 3600e6 AS hours
      FROM (SELECT city_id, created_at, closed_at, closed_at IS NOT NULL AND closed_at <= $cutoff AS closed
            FROM request_rows
            WHERE starts_with(partition_month, $period) AND status <> 'cancelled'
              AND NOT list_has_any(quality_flags, $km_excluded)))
GROUP BY ALL
