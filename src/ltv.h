/*-------------------------------------------------------------------------
 *
 * ltv.h
 *	  Lifetime value: the models' predictions, for C callers.
 *
 * IDENTIFICATION
 *	  src/ltv.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEGMENT_LTV_H
#define SEGMENT_LTV_H

/* ltv_models.c: mp = BG/NBD r, alpha, a, b; gp = Gamma-Gamma p, q, gamma */
extern double LtvClv(const double *mp, const double *gp, double x, double tx, double T,
					 double m, int32 horizon, double discount);

#endif							/* SEGMENT_LTV_H */
