"""The wizard's own seven stages, in order, registered once when the app loads (apps.py).

Stage 8 ("Create instance") is the instances app's: it registers itself after "authorize"
(instances/create_views.py). Adding a stage here is one line, its form and its template.
"""

from __future__ import annotations

from . import stage_views
from .forms import AccountForm, ApplicationForm, EnvironmentForm, PermissionsForm
from .keys_form import KeysForm
from .stages import STAGES, Stage

for _stage in (
    Stage("account", "Account", stage_views.form_stage, form=AccountForm, reviewed=True),
    Stage("environment", "Environment", stage_views.form_stage, form=EnvironmentForm, reviewed=True),
    Stage("application", "Directory and application", stage_views.form_stage, form=ApplicationForm, reviewed=True),
    # Custom authentication has no app keys: stage 4 asks for a user's sign-in instead.
    Stage("keys", "Keys and client ID", stage_views.form_stage, form=KeysForm, reviewed=True,
          custom_title="Sign-in account"),
    Stage("permissions", "Permissions", stage_views.form_stage, form=PermissionsForm, reviewed=True),
    Stage("review", "Review and save", stage_views.review),
    Stage("authorize", "Authorize", stage_views.authorize),
):
    STAGES.register(_stage)
