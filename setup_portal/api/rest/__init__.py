"""The management API (/api/v1/): what admins, team leads and portal administrators do in the
pages, for scripts. Views per area call the same forms, actions and permission rules as the pages."""
