-- Customer lifetime value models: BG/NBD (purchase counts) and Gamma-Gamma
-- (spend), fitted by aggregates, and the predictions made from them.  Part
-- of segment--0.1.0.sql (see the Makefile).  See doc/ltv.md.

--
-- Model types
--

CREATE TYPE segment.bgnbd_model AS (
	r float8,
	alpha float8,
	a float8,
	b float8,
	loglik float8,
	n bigint
);
COMMENT ON TYPE segment.bgnbd_model IS 'fitted BG/NBD model: parameters r, alpha, a, b, log-likelihood, customers';

CREATE TYPE segment.gammagamma_model AS (
	p float8,
	q float8,
	gamma float8,
	loglik float8,
	n bigint
);
COMMENT ON TYPE segment.gammagamma_model IS 'fitted Gamma-Gamma spend model: parameters p, q, gamma, log-likelihood, customers with x > 0';

--
-- Fitting aggregates.  The state keeps the rows; the fit runs in the final
-- function.
--

CREATE FUNCTION segment.bgnbd_fit_trans(internal, float8, float8, float8) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment.bgnbd_fit_final(internal) RETURNS segment.bgnbd_model
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment.gammagamma_fit_trans(internal, float8, float8) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment.gammagamma_fit_final(internal) RETURNS segment.gammagamma_model
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment.ltv_fit_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment.ltv_fit_serialize(internal) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.ltv_fit_deserialize(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE segment.bgnbd_fit(x float8, t_x float8, t float8) (
	SFUNC = segment.bgnbd_fit_trans,
	STYPE = internal,
	COMBINEFUNC = segment.ltv_fit_combine,
	SERIALFUNC = segment.ltv_fit_serialize,
	DESERIALFUNC = segment.ltv_fit_deserialize,
	FINALFUNC = segment.bgnbd_fit_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE segment.bgnbd_fit(float8, float8, float8) IS 'maximum-likelihood BG/NBD model of customer summaries (repeat purchases x, time of last repeat purchase t_x, observation time T); rows with a NULL are skipped';

CREATE AGGREGATE segment.gammagamma_fit(x float8, m float8) (
	SFUNC = segment.gammagamma_fit_trans,
	STYPE = internal,
	COMBINEFUNC = segment.ltv_fit_combine,
	SERIALFUNC = segment.ltv_fit_serialize,
	DESERIALFUNC = segment.ltv_fit_deserialize,
	FINALFUNC = segment.gammagamma_fit_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE segment.gammagamma_fit(float8, float8) IS 'maximum-likelihood Gamma-Gamma model of mean repeat spend m over customers with x > 0; rows with a NULL or x = 0 are skipped';

--
-- Predictions
--

CREATE FUNCTION segment.bgnbd_expected_purchases(model segment.bgnbd_model,
		x float8, t_x float8, t float8, horizon float8) RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_expected_purchases(segment.bgnbd_model, float8, float8, float8, float8) IS 'BG/NBD expected number of purchases in (T, T + horizon] of a customer with summary (x, t_x, T)';

CREATE FUNCTION segment.bgnbd_p_alive(model segment.bgnbd_model,
		x float8, t_x float8, t float8) RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_p_alive(segment.bgnbd_model, float8, float8, float8) IS 'BG/NBD probability that a customer with summary (x, t_x, T) is still active at T';

CREATE FUNCTION segment.bgnbd_expected_unconditional(model segment.bgnbd_model,
		horizon float8) RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_expected_unconditional(segment.bgnbd_model, float8) IS 'BG/NBD expected number of repeat purchases of a new customer in its first horizon time units';

CREATE FUNCTION segment.gammagamma_expected_spend(model segment.gammagamma_model,
		x float8, m float8) RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.gammagamma_expected_spend(segment.gammagamma_model, float8, float8) IS 'Gamma-Gamma expected mean spend per purchase of a customer with x repeat purchases of mean amount m';

CREATE FUNCTION segment.clv(bgnbd segment.bgnbd_model, gammagamma segment.gammagamma_model,
		x float8, t_x float8, t float8, m float8, horizon integer,
		discount float8 DEFAULT 0.0) RETURNS float8
	AS 'MODULE_PATHNAME', 'ltv_clv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.clv(segment.bgnbd_model, segment.gammagamma_model, float8, float8, float8, float8, integer, float8) IS 'customer lifetime value over horizon periods: expected purchases of each period times expected spend, discounted at the end of the period';
