"""Display strategy and experiments.

- :mod:`.logged` reads logged displays (impressions with position and propensity, and their clicks)
  from the store, for any shop that logs them.
- :mod:`.position_bias` estimates how much attention each position gets (from randomised logs, or by
  fitting a position-based click model with EM) and turns it into inverse-propensity click weights.
- :mod:`.placement` puts scored items into slots, best item where attention is highest.
- :mod:`.ope` / :mod:`.targets` / :mod:`.reward`: off-policy evaluation (IPW, SNIPW, DM, DR with
  bootstrap intervals) of any policy that states its probability of showing an item at a position.
- :mod:`.opl` learns a display policy from logged data, weighted by inverse propensity.
- :mod:`.ab` analyses A/B(/n) tests; :mod:`.assignment` runs them (salted hashing, exposure log).
"""
