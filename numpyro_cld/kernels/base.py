"""What every numpyro_cld kernel shares: where the target comes from and the NumPyro plumbing
(initialisation, vectorised chains, Gibbs hooks, pickling). A kernel class only says which
functional sampler (:mod:`numpyro_cld.samplers`) it binds and with which arguments."""

import copy
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
from jax import random, vmap
from jax.flatten_util import ravel_pytree
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.mcmc import MCMCKernel
from numpyro.infer.util import _transforms_from_trace, initialize_model, transform_fn
from numpyro.util import identity, is_prng_key

from ..blocks.step import PotentialAndScore
from ..samplers.state import LangevinState, start_position
from ..sources.model_prefix import model_trace
from ..sources.potential import check_score_shape, from_potential, from_score
from ..sources.protocol import Source, at_level
from .faults import FaultAccounting
from .states import (
    check_key_batch,
    check_like,
    check_moves,
    check_real,
    check_start,
    discrete_latent_sites,
    flat_state,
    flat_vector,
    layout,
    mismatch,
    same_args,
)

_CONCRETE_ERRORS = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerIntegerConversionError,
    jax.errors.TracerArrayConversionError,
)


def traced(*trees) -> bool:
    """Whether any leaf of ``trees`` is a JAX tracer (model arguments under
    ``jit_model_args``)."""
    return any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves(trees))


def needs_concrete(error: TypeError) -> bool:
    """Whether ``error`` is JAX's complaint that a traced value was used where a concrete one
    is needed (a shape, a Python ``int``/``bool``)."""
    return isinstance(error, _CONCRETE_ERRORS) or "concrete value" in str(error)


class LangevinBase(FaultAccounting, MCMCKernel):
    """Base of the Langevin kernels: exactly one of ``model``, ``potential_fn``, ``score_fn``.

    A subclass implements ``_sampler(model_args, model_kwargs) -> (init, step)``, the
    functional sampler bound to the target for these model arguments; this class ravels the
    latent pytree, vectorises the chains, binds the target at every call (so
    ``jit_model_args`` and :class:`numpyro.infer.Gibbs` conditioning work) and implements
    the NumPyro hooks. ``state_type`` is the :class:`LangevinState` (sub)class it returns.
    """

    state_type = LangevinState

    def __init__(
        self,
        model: Callable | None = None,
        *,
        potential_fn: Callable | None = None,
        score_fn: Callable | None = None,
        init_strategy: Callable = init_to_uniform,
    ):
        given = [
            n
            for n, v in (("model", model), ("potential_fn", potential_fn), ("score_fn", score_fn))
            if v is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "Exactly one of `model`, `potential_fn` or `score_fn` must be given; got "
                + (", ".join(f"`{n}`" for n in given) if given else "none")
                + "."
            )
        for name, value in (
            ("model", model),
            ("potential_fn", potential_fn),
            ("score_fn", score_fn),
        ):
            if value is not None and not callable(value):
                raise TypeError(f"`{name}` must be callable, got {type(value).__name__}.")
        if not callable(init_strategy):
            raise TypeError(
                "`init_strategy` must be callable (a NumPyro strategy such as "
                f"numpyro.infer.init_to_median), got {init_strategy!r:.80}."
            )
        self._model = model
        self._potential_fn = potential_fn
        self._score_fn = score_fn
        self._init_strategy = init_strategy
        self._reset_faults()
        self._reset()

    def _reset(self):
        self._potential_fn_gen = None
        self._postprocess_fn = None
        self._inv_transforms = None
        self._dynamic_support = False
        self._sample_fn = None
        self._site_trace = None
        self._bound = None
        self._unravel_fn = None
        self._num_warmup = 0

    # -- NumPyro interface -------------------------------------------------------------
    @property
    def model(self):
        return self._model

    @property
    def sample_field(self):
        return "z"

    @property
    def default_fields(self):
        return ("z", "diverging")

    @property
    def has_density(self) -> bool:
        """Whether the target has a potential (needed for the Metropolis test)."""
        return self._score_fn is None

    def postprocess_fn(self, model_args, model_kwargs):
        if self._postprocess_fn is None:
            return identity
        return self._postprocess_fn(*model_args, **(model_kwargs or {}))

    def get_constrain_fn(self, model_args=(), model_kwargs=None):
        """Constrain this kernel's sites by their transforms alone, without replaying the
        model (as :class:`~numpyro.infer.HMC` does): a :class:`~numpyro.infer.Gibbs` composite
        calls it with this block's sites only, and a replay would sample the others."""
        if self._inv_transforms is None or self._dynamic_support:
            return self.postprocess_fn(model_args, model_kwargs)
        return partial(transform_fn, self._inv_transforms)

    def init(self, rng_key, num_warmup, init_params=None, model_args=(), model_kwargs=None):
        model_kwargs = {} if model_kwargs is None else model_kwargs
        self._num_warmup = num_warmup
        vectorized = not is_prng_key(rng_key)
        if vectorized:
            check_key_batch(rng_key, type(self).__name__)
            keys = vmap(random.split)(rng_key)
            rng_key, key_model = keys[:, 0], keys[:, 1]
        else:
            rng_key, key_model = random.split(rng_key)
        init_params = self._initial_params(
            key_model, init_params, model_args, model_kwargs, vectorized
        )
        one = jax.tree.map(lambda a: a[0], init_params) if vectorized else init_params
        self._resolve(model_args, model_kwargs, one)
        # built once for the run's model arguments and reused at every transition; other
        # arguments (jit_model_args, Gibbs) rebind it (see `_sampler_for`)
        self._bound = (model_args, model_kwargs, None)  # `_is_init_args` reads it
        self._bound = (model_args, model_kwargs, self._sampler(model_args, model_kwargs))

        def init_one(params, key):
            return self._init_one(key, params, model_args, model_kwargs)

        if vectorized:
            state = vmap(init_one)(init_params, rng_key)
            sample_fn = vmap(self._sample_one, in_axes=(0, None, None))
        else:
            state = init_one(init_params, rng_key)
            sample_fn = self._sample_one
        check_start(state, type(self).__name__)
        check_moves(state, self._fixed_step_size(), type(self).__name__)
        self._check_stable_step(state, model_args, model_kwargs)
        self._state_layout = layout(state)
        self._fault_warned = False
        self._sample_fn = self._reporting_faults(sample_fn)
        return state

    def sample(self, state, model_args, model_kwargs):
        assert self._sample_fn is not None, "`init` must be called before `sample`."
        if layout(state) != self._state_layout:
            raise ValueError(
                f"the state given to {type(self).__name__} (e.g. `mcmc.post_warmup_state`) was "
                f"not made by this kernel with these settings and model: {mismatch(state, self)}"
                ". A state resumes only the kernel, settings, model arguments and chain count "
                "that made it."
            )
        try:
            return self._sample_fn(state, model_args, model_kwargs)
        except TypeError as e:
            if not (traced(model_args, model_kwargs) and needs_concrete(e)):
                raise
            raise TypeError(
                f"{type(self).__name__}: the model arguments are traced "
                "(`MCMC(..., jit_model_args=True)`), but the model needs a concrete value of "
                "one of them (an argument that sets a shape, a loop count or a Python "
                f"branch): {str(e).splitlines()[0]} Pass `jit_model_args=False` (the default), "
                "or bind that argument into the model (functools.partial)."
            ) from e

    def refresh(self, state, model_args, model_kwargs):
        """Recompute the cached potential and gradient at ``state.z`` for new model
        arguments (used by :class:`numpyro.infer.Gibbs` when sibling blocks move)."""
        x = flat_vector(state.z)
        pe, score = self._target(model_args, model_kwargs)(x, state.rng_key)
        return state._replace(potential_energy=pe, z_grad=self._unravel_fn(-score))

    def wrap_model(self, wrapper):
        """A copy bound to ``wrapper(self.model)``; closures are rebuilt at its ``init``."""
        if self._model is None:
            raise ValueError(
                "`wrap_model` needs a kernel built from `model`, not from "
                "`potential_fn` or `score_fn`."
            )
        kernel = copy.copy(self)
        kernel._model = wrapper(self._model)
        kernel._reset()
        return kernel

    def __getstate__(self):
        state = self.__dict__.copy()
        # closures (the vmapped step, the bound sampler) do not pickle; rebuilt at init
        state["_sample_fn"] = state["_bound"] = None
        state["_mcmc"] = None  # a weak reference to the MCMC that ran it (kernels/faults.py)
        return state

    # -- one chain: the functional sampler on the raveled latent vector -------------------
    def _resolve(self, model_args, model_kwargs, one_params) -> None:
        """Fix what the kernel derives from the model once, at ``init`` (a subclass's plan);
        ``self._site_trace`` is the one trace of the model it may read (None without a
        model)."""

    def _fixed_step_size(self) -> tuple[float, float] | None:
        """``(eta, m)``: the largest step size the run uses that no warmup adapts, and the
        largest entry of its inverse mass matrix, for :func:`check_moves`; None when the step
        size adapts (or a subclass does not say)."""
        return None

    def _check_stable_step(self, state, model_args, model_kwargs) -> None:
        """A subclass may warn when its fixed step size is unstable at the start."""

    def _sampler(self, model_args, model_kwargs) -> tuple[Callable, Callable]:
        """The functional sampler ``(init, step)`` bound to the target for these model
        arguments (no argument checks: those ran at construction and in ``_resolve``)."""
        raise NotImplementedError

    def _is_init_args(self, model_args, model_kwargs) -> bool:
        """Whether these are the model arguments of the last ``init`` (its trace holds)."""
        if self._bound is None:
            return False
        return same_args((model_args, model_kwargs or {}), self._bound[:2])

    def _sampler_for(self, model_args, model_kwargs) -> tuple[Callable, Callable]:
        """The sampler built at ``init`` when called with the same model arguments, else
        one bound to the new ones (under ``jit_model_args`` they are traced values; a
        :class:`~numpyro.infer.Gibbs` sibling conditions them)."""
        if self._is_init_args(model_args, model_kwargs):
            return self._bound[2]
        return self._sampler(model_args, model_kwargs or {})

    def _as_tree(self, state: LangevinState) -> LangevinState:
        return self.state_type(
            *state._replace(z=self._unravel_fn(state.z), z_grad=self._unravel_fn(state.z_grad))
        )

    def _init_one(self, rng_key, init_params, model_args, model_kwargs):
        rng_key, key_init = random.split(rng_key)
        init, _ = self._sampler_for(model_args, model_kwargs)
        state = self._as_tree(init(flat_vector(init_params), key_init))
        return state._replace(z=init_params, rng_key=rng_key)

    def _sample_one(self, state, model_args, model_kwargs):
        rng_key, key = random.split(state.rng_key)
        _, step = self._sampler_for(model_args, model_kwargs)
        flat = flat_state(state)
        return self._as_tree(step(key, flat))._replace(rng_key=rng_key)

    # -- the target ----------------------------------------------------------------------
    def _initial_params(self, key, init_params, model_args, model_kwargs, vectorized):
        if self._model is not None:
            # the one trace of the model that the kernels read (sites, layout, routes)
            self._site_trace = model_trace(self._model, model_args, model_kwargs)
            discrete = discrete_latent_sites(self._site_trace)
            if discrete:
                raise ValueError(
                    f"{type(self).__name__} needs continuous latent sites, but site(s) "
                    f"{discrete} are discrete. Marginalise them out (e.g. with a mixture "
                    "distribution) or use numpyro.infer.Gibbs with DiscreteGibbs for them."
                )
            # given init_params, one key: the functions do not depend on it, and NumPyro maps
            # over a batch of keys with an eager lax.map, compiled again on every run
            given = vectorized and init_params is not None
            info, self._potential_fn_gen, self._postprocess_fn, self._model_trace = (
                initialize_model(
                    key[0] if given else key,
                    self._model,
                    dynamic_args=True,
                    init_strategy=self._init_strategy,
                    model_args=model_args,
                    model_kwargs=model_kwargs,
                )
            )
            transforms = _transforms_from_trace(self._model_trace, raise_warnings=False)
            self._inv_transforms = transforms.inv_transforms
            self._dynamic_support = transforms.dynamic_support
            if init_params is None:
                init_params = info.z
            else:
                num = (jnp.shape(key)[0],) if given else ()
                proto = jax.tree.map(
                    lambda a: jax.ShapeDtypeStruct(num + jnp.shape(a), a.dtype), info.z
                )
                check_like("init_params", init_params, proto)
        elif init_params is None:
            which = "potential_fn" if self._potential_fn is not None else "score_fn"
            raise ValueError(f"`init_params` must be provided with `{which}`.")
        check_real("init_params", init_params)
        # the chains run in the default float type (float64 under x64): float32 (or integer)
        # `init_params` there are cast up, as the samplers' `init` would, so that the state's
        # `z` and the unravel function agree with the flat vector the sampler moves
        init_params = start_position(init_params)
        one = jax.tree.map(lambda a: a[0], init_params) if vectorized else init_params
        _, self._unravel_fn = ravel_pytree(one)
        if self._score_fn is not None:
            check_score_shape(self._score_fn, one)
        elif self._potential_fn is not None:
            out = jax.eval_shape(self._potential_fn, one)
            if jnp.shape(out) != ():
                raise ValueError(
                    "`potential_fn` must return a scalar for one chain's `init_params`, got "
                    f"shape {jnp.shape(out)}; check the shape of `init_params`."
                )
        return init_params

    def _potential(self, model_args, model_kwargs) -> Callable | None:
        """The potential on pytrees for these model arguments (None for score-only)."""
        if self._potential_fn_gen is not None:
            return self._potential_fn_gen(*model_args, **(model_kwargs or {}))
        return self._potential_fn

    def _source(self, model_args, model_kwargs) -> Source:
        """The target's source ``f(x_flat, level, key) -> (U, s)`` for these arguments."""
        if self._score_fn is not None:
            return from_score(self._score_fn, self._unravel_fn)
        return from_potential(self._potential(model_args, model_kwargs), self._unravel_fn)

    def _target(self, model_args, model_kwargs) -> PotentialAndScore:
        """``f(x_flat, key) -> (U, s)`` of the distribution the kernel samples."""
        return at_level(self._source(model_args, model_kwargs), None)
