-- ferry functions over a generated Parquet dataset.
--
--   cargo run -p ferry-cli -- sql -f examples/sql/trips.sql
--
-- The functions come from examples/udfs, built from source by CREATE
-- FUNCTION; their signatures come from the module.

-- 200,000 made-up taxi trips around Chicago, written once to Parquet.
COPY (
    SELECT
        value AS id,
        41.80 + (value * 7919 % 2000) / 10000.0 AS pickup_lat,
        -87.70 + (value * 104729 % 2000) / 10000.0 AS pickup_lon,
        41.80 + (value * 15485863 % 2000) / 10000.0 AS dropoff_lat,
        -87.70 + (value * 32452843 % 2000) / 10000.0 AS dropoff_lon,
        CASE value % 4
            WHEN 0 THEN '  The   LOOP '
            WHEN 1 THEN 'the loop'
            WHEN 2 THEN 'Lincoln  Park'
            ELSE ' lincoln park'
        END AS zone,
        CAST(300 + value * 7 % 4000 AS BIGINT) AS fare_cents,
        CAST(value * 13 % 900 AS BIGINT) AS tip_cents,
        to_timestamp_micros(1704067200000000 + value * 137000000) AS pickup_time
    -- Rows from an array rather than generate_series: a table function
    -- cannot be sent to a cluster (`ferry sql --cluster`).
    FROM (SELECT unnest(range(1, 200001)) AS value)
) TO 'target/trips.parquet' STORED AS PARQUET;

CREATE EXTERNAL TABLE trips STORED AS PARQUET LOCATION 'target/trips.parquet';

CREATE OR REPLACE FUNCTION haversine AS 'examples/udfs' LANGUAGE wasm;
CREATE OR REPLACE FUNCTION normalize AS 'examples/udfs' LANGUAGE wasm;
CREATE OR REPLACE FUNCTION gcd AS 'examples/udfs' LANGUAGE wasm;
CREATE OR REPLACE FUNCTION hour AS 'examples/udfs' LANGUAGE wasm;
CREATE OR REPLACE FUNCTION histogram AS 'examples/udfs' LANGUAGE wasm;

-- Scalar functions: distance per trip, messy zone names made one.
SELECT
    normalize(zone) AS zone,
    count(*) AS trips,
    round(avg(haversine(pickup_lat, pickup_lon, dropoff_lat, dropoff_lon)), 3) AS avg_km
FROM trips
GROUP BY 1
ORDER BY 1;

-- An aggregate: trip lengths in 10 km buckets, per zone, merged across
-- partitions.
SELECT normalize(zone) AS zone, histogram(haversine(pickup_lat, pickup_lon, dropoff_lat, dropoff_lon)) AS km
FROM trips
GROUP BY 1
ORDER BY 1;

-- gcd of fare and tip, and trips by hour of the day.
SELECT hour(pickup_time) AS hour, count(*) AS trips, max(gcd(fare_cents, tip_cents)) AS max_gcd
FROM trips
GROUP BY 1
ORDER BY 1
LIMIT 5;
