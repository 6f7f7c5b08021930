-- try.sql: pg_temp.try(sql), included by the regression tests that list
-- many errors: 'ok', or the error as SQLSTATE: message, so one query shows
-- each case and the test goes on.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
