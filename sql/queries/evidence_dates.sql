-- Per city, the dates its evidence rests on: when the archived responses behind its measured facts
-- were fetched, and the dates of its curated citations (marts.city_ranking takes the latest).
WITH hashes AS (SELECT DISTINCT city_id, unnest(evidence_sha256s) AS sha256 FROM marts.indicator_facts
                WHERE raw_value IS NOT NULL)
SELECT h.city_id, max(a.fetched_at)::DATE AS evidence_date FROM hashes h
JOIN raw.http_archive a USING (sha256) GROUP BY ALL
UNION ALL
SELECT city_id, max(citation_date) FROM staging.curated_evidence GROUP BY ALL
