-- Rows of staging.cities and distinct city ids among them (equal, and the registry's count, when sound).
SELECT count(*) AS n, count(DISTINCT city_id) AS d FROM staging.cities
