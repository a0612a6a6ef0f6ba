"""Architecture search for the Nano family (training half, needs torch): regularised evolution
under parameter/MAC budgets, short proxy training, JSON Lines log with resume, Pareto plot."""
from .evolution import EvolutionConfig, read_log, run_search
from .pareto import best_row, pareto_front, plot_pareto
from .proxy import ProxyConfig, ProxyTrainer, load_proxy_data
from .space import Budget, SearchSpace, measure

__all__ = ["EvolutionConfig", "read_log", "run_search", "best_row", "pareto_front", "plot_pareto",
           "ProxyConfig", "ProxyTrainer", "load_proxy_data", "Budget", "SearchSpace", "measure"]
