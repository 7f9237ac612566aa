-- Close times per city and month of creation, for the monthly Kaplan-Meier and naive medians analysts
-- read in marts.close_times_monthly: as request_close_times.sql, with the month in the key
-- (`city_id|YYYY-MM`, split again by the caller). Requests still open at the cut-off are censored there.
--
-- Reads the view `request_rows`. Parameters: $period (YYYY), $cutoff (TIMESTAMPTZ), $km_excluded.
SELECT city_id || '|' || partition_month AS city_id, hours, count(*) FILTER (WHERE closed) AS events,
       count(*) AS n
FROM (SELECT city_id, partition_month, closed,
             (epoch_us(CASE WHEN closed THEN closed_at ELSE $cutoff END) - epoch_us(created_at)) / 3600e6 AS hours
      FROM (SELECT city_id, partition_month, created_at, closed_at,
                   closed_at IS NOT NULL AND closed_at <= $cutoff AS closed
            FROM request_rows
            WHERE starts_with(partition_month, $period) AND status <> 'cancelled'
              AND NOT list_has_any(quality_flags, $km_excluded)))
GROUP BY ALL
