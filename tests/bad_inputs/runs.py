"""Starts, mass matrices and resumed runs: what a chain is started or resumed from."""

CASES = [
    (
        "runs",
        "init_params holding NaN",
        "run(Langevin(potential_fn=U), init_params=jnp.array([jnp.nan, 0.0]))",
        ValueError,
        "`init_params` must be finite",
    ),
    (
        "runs",
        "a start where the potential is inf",
        "run(Langevin(potential_fn=lambda x: U(x) + jnp.where(x[0] > 5, jnp.inf, 0.0)), "
        "init_params=jnp.array([6.0, 0.0]))",
        ValueError,
        "the potential at `init_params` is not finite",
    ),
    (
        "runs",
        "a score_fn that always returns NaN",
        "run(Langevin(score_fn=lambda x: x * jnp.nan), init_params=jnp.zeros(2))",
        ValueError,
        "the score (gradient of the log density) at `init_params`",
    ),
    (
        "runs",
        "one of three vectorised chains starts outside the support",
        "MCMC(ChainedLangevin(potential_fn=lambda x: U(x) + jnp.where(x[0] > 5, jnp.inf, 0.0)), "
        "num_warmup=0, num_samples=1, num_chains=3, chain_method='vectorized', "
        "progress_bar=False).run(random.key(0), init_params=jnp.array([[0.0, 0.0], [6.0, 0.0], "
        "[1.0, 1.0]]))",
        ValueError,
        "not finite for chain(s) [1]",
    ),
    (
        "runs",
        "zero inverse mass matrix",
        "Langevin(model, inverse_mass_matrix=jnp.zeros(4))",
        ValueError,
        "`inverse_mass_matrix` must be positive",
    ),
    (
        "runs",
        "negative inverse mass matrix",
        "Langevin(model, inverse_mass_matrix=-jnp.ones(4))",
        ValueError,
        "`inverse_mass_matrix` must be positive",
    ),
    (
        "runs",
        "NaN in the inverse mass matrix",
        "Langevin(model, inverse_mass_matrix=jnp.array([1.0, jnp.nan, 1.0, 1.0]))",
        ValueError,
        "`inverse_mass_matrix` must be positive",
    ),
    (
        "runs",
        "indefinite dense inverse mass matrix",
        "Langevin(model, dense_mass=True, inverse_mass_matrix=jnp.array([[1.0, 2.0], [2.0, 1.0]]))",
        ValueError,
        "`inverse_mass_matrix` must be symmetric positive definite",
    ),
    (
        "runs",
        "non-square inverse mass matrix",
        "Langevin(model, inverse_mass_matrix=jnp.ones((2, 3)))",
        ValueError,
        "`inverse_mass_matrix` must be a vector",
    ),
    (
        "runs",
        "mass matrix with explicit Chained-ALD levels",
        "ChainedLangevin(model, sigmas=[1.0, 0.1], adapt_mass_matrix=True)",
        ValueError,
        "`adapt_mass_matrix=True`",
    ),
    (
        "runs",
        "mass matrix without step-size adaptation",
        "ChainedLangevin(model, adapt_step_size=False, adapt_mass_matrix=True)",
        ValueError,
        "`adapt_mass_matrix=True`",
    ),
    (
        "runs",
        "a Langevin state resumed by ChainedLangevin",
        "resume(ChainedLangevin(model, patch_size=2), Langevin(model))",
        ValueError,
        "expected a ChainedState(PatchAdaptState), got a LangevinState(HMCAdaptState)",
    ),
    (
        "runs",
        "a diagonal-mass state resumed with dense_mass=True",
        "resume(Langevin(model, dense_mass=True), Langevin(model))",
        ValueError,
        "field .adapt_state.inverse_mass_matrix has shape (4,), expected (4, 4)",
    ),
    (
        "runs",
        "a state resumed with another patch size",
        "resume(ChainedLangevin(model, patch_size=1), ChainedLangevin(model, patch_size=2))",
        ValueError,
        "`mcmc.post_warmup_state`",
    ),
    (
        "runs",
        "an annealed state resumed by Langevin",
        "resume(Langevin(model), AnnealedLangevin(model, sigmas=[1.0, 0.1]))",
        ValueError,
        "expected a LangevinState(HMCAdaptState), got a AnnealedLangevinState",
    ),
]
