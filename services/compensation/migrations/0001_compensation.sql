-- The compensation service's own tables (DESIGN.md: no service reads another's tables).

-- Complaints as this service knows them: learned from intake's events (ComplaintRaised, -Assigned,
-- -Resolved, -Closed), never read from intake's database. Events of one complaint arrive on several
-- topics in no guaranteed order, so every column is filled by whichever event brings it.
create table complaints (
    complaint_id uuid primary key,
    tenant text not null,
    customer_id text not null,
    category text not null,
    language text,
    team_id text,
    agent_id text,
    status text not null default 'open' check (status in ('open', 'resolved', 'closed')),
    root_cause_department text,
    raised_at timestamptz,
    resolved_at timestamptz,
    closed_at timestamptz,
    about_deceased boolean not null default false,
    correlation_id uuid,
    updated_at timestamptz not null default now()
);
create index complaints_by_customer on complaints (tenant, customer_id);

-- R11: the apology comes first.
create table apologies (
    complaint_id uuid primary key references complaints,
    language text not null,
    text text not null,
    catalogue_entry text,
    apologised_by text not null,
    apologised_at timestamptz not null
);

-- R12: financial compensation only for a recorded financial damage.
create table damages (
    complaint_id uuid primary key references complaints,
    amount_cents bigint not null check (amount_cents > 0),
    currency text not null,
    description text,
    recorded_by text not null,
    recorded_at timestamptz not null
);

-- One row per proposal; a proposal above the mandate is also the approval item (R14).
create table compensations (
    compensation_id uuid primary key,
    complaint_id uuid not null references complaints,
    tenant text not null,
    customer_id text not null,
    kind text not null check (kind in ('emotional', 'financial')),
    status text not null check (status in ('granted', 'awaiting_approval', 'approved', 'rejected')),
    amount_cents bigint check (amount_cents >= 0),
    currency text,
    gesture text,
    gesture_text text,
    note text,
    catalogue_entry text,
    category text not null,
    team_id text,
    proposed_by text not null,
    proposed_at timestamptz not null,
    mandate_cents bigint,
    mandate_currency text,
    approval_reason text,
    deadline_at timestamptz,
    escalated_at timestamptz,
    decided_by text,
    decided_at timestamptz,
    decision_reason text,
    reason_code text,
    check ((amount_cents is null) = (currency is null)),
    check (kind = 'emotional' or amount_cents > 0)
);
-- Two agents deciding at once yield one compensation: at most one live (not rejected) per complaint.
create unique index compensations_one_live_per_complaint
    on compensations (complaint_id) where status <> 'rejected';
create index compensations_financial_grants
    on compensations (tenant, customer_id, decided_at)
    where kind = 'financial' and status in ('granted', 'approved');
create index compensations_awaiting_approval
    on compensations (tenant, proposed_at) where status = 'awaiting_approval';
create index compensations_by_decision on compensations (tenant, decided_at);

-- R15: one row per flag episode; an open episode has no ended_at.
create table customer_flags (
    flag_id bigserial primary key,
    tenant text not null,
    customer_id text not null,
    flagged_at timestamptz not null,
    financial_compensations integer not null,
    total_cents bigint not null,
    currency text not null,
    window_days integer not null,
    latest_complaint_id uuid,
    ended_at timestamptz,
    end_reason text check (end_reason in ('reviewed', 'window_passed')),
    reviewed_by text,
    review_note text
);
create unique index customer_flags_one_open_episode
    on customer_flags (tenant, customer_id) where ended_at is null;

-- R10: the customer died; the view tells the agent who owns the contact with the bereaved.
create table deceased_customers (
    tenant text not null,
    customer_id text not null,
    owner_agent_id text not null,
    marked_at timestamptz not null,
    primary key (tenant, customer_id)
);

-- Operator data (R8): seeded from services/compensation/rules/*.json when empty, then changed
-- through the admin API; every change is in rules_audit.
create table catalogue_entries (
    code text primary key,
    categories text[] not null,
    entry jsonb not null,
    retired boolean not null default false,
    updated_at timestamptz not null default now()
);
create index catalogue_entries_by_category on catalogue_entries using gin (categories);

create table mandates (
    tenant text not null,          -- '*' is the default for every organisation
    role text not null,
    limit_cents bigint not null check (limit_cents >= 0),
    currency text not null,
    primary key (tenant, role)
);

create table policies (
    name text primary key,         -- approval_deadline, abuse_watch
    value jsonb not null
);

create table rules_audit (
    id bigserial primary key,
    what text not null,
    key text not null,
    action text not null,
    before jsonb,
    after jsonb,
    changed_by text not null,
    changed_at timestamptz not null default now()
);
create index rules_audit_by_what on rules_audit (what, key, id);
