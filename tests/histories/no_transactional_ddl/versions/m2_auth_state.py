"""users.auth_state (jupyterhub's eeb276e51423): the column a snapshot missed

Revision ID: m1000002
"""

import sqlalchemy as sa
from alembic import op

revision = "m1000002"
down_revision = "m1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("auth_state", sa.Text))


def downgrade() -> None:
    op.drop_column("users", "auth_state")
