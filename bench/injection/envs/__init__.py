"""The suite's environments, one module each."""

from bench.injection.envs.bank import ENV as BANK
from bench.injection.envs.chat import ENV as CHAT
from bench.injection.envs.files import ENV as FILES
from bench.injection.envs.mail import ENV as MAIL
from bench.injection.suite import Environment

ENVIRONMENTS: tuple[Environment, ...] = (MAIL, FILES, BANK, CHAT)
