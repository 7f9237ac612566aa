-- Per city, the dates its evidence rests on: when the archived responses behind its measured facts
-- were fetched, and the publication dates of the cited facts its values came from (marts.city_ranking
-- takes the latest).
WITH hashes AS (SELECT DISTINCT city_id, unnest(evidence_sha256s) AS sha256 FROM marts.indicator_facts
                WHERE raw_value IS NOT NULL)
SELECT h.city_id, max(a.fetched_at)::DATE AS evidence_date FROM hashes h
JOIN raw.http_archive a USING (sha256) GROUP BY ALL
UNION ALL
SELECT c.city_id, max(c.publication_date) FROM staging.curated_evidence c
JOIN marts.indicator_facts f ON f.city_id = c.city_id AND f.indicator_id = c.indicator_id
 AND f.evidence_route = 'curated' AND f.evidence_year BETWEEN c.start_year AND c.evidence_year
GROUP BY ALL
