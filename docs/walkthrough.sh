#!/usr/bin/env bash
# The README's API walk-through as one script (a test runs it against the running services).
set -euo pipefail
cd "$(dirname "$0")/.."
set -a; . .local/secrets.env; set +a      # BUREAU_API_KEY, FINANCE_API_KEY, TALENT_OFFICE_API_KEY
P=${PLAN_SERVICE_PORT_BASE:-8000}           # the services listen on 8001-8003 unless moved
E=http://127.0.0.1:$((P + 1)) F=http://127.0.0.1:$((P + 2)) T=http://127.0.0.1:$((P + 3))
JSON='Content-Type: application/json'
RUN=$(date +%s%N)                          # names must be unique; a real institution has its own

# --- Enrollment: the Bureau accredits an institution and issues its key (shown once) -------------
INST=$(curl -sf -X POST $E/institutions -H "X-API-Key: $BUREAU_API_KEY" -H "$JSON" \
  -d "{\"name\": \"Cashmere Town Workshop $RUN\", \"mode\": \"offline\"}" | jq -r .id)
KEY=$(curl -sf -X POST $E/institutions/$INST/keys -H "X-API-Key: $BUREAU_API_KEY" | jq -r .api_key)

# The institution enrols a trainee; Idempotency-Key makes a retry return the first answer
ID_NUMBER=$(.venv/bin/python -c "
import random; from plan_events.identity import check_digit
s = f'130102{random.randint(1970, 2000)}0808{random.randint(100, 999)}'; print(s + check_digit(s))")
ENROLMENT=$(curl -sf -X POST $E/enrollments -H "X-API-Key: $KEY" -H "Idempotency-Key: enrol-$RUN" -H "$JSON" -d "{
  \"id_number\": \"$ID_NUMBER\", \"name\": \"Liu Jiaqi\", \"phone\": \"13800138000\",
  \"target_group\": \"rural_household\", \"tier\": \"basic\", \"mode\": \"offline\",
  \"starts_on\": \"2020-08-08\", \"niche\": \"cashmere and fur\"}")
echo "$ENROLMENT" | jq '{id, trainee_id, id_masked, tier, status}'
BASIC=$(echo "$ENROLMENT" | jq -r .id)

# A refusal names its rule and field: the professional tier needs a passed basic course first
curl -s -X POST $E/enrollments -H "X-API-Key: $KEY" -H "$JSON" -d "{
  \"id_number\": \"$ID_NUMBER\", \"name\": \"Liu Jiaqi\", \"phone\": \"13800138000\",
  \"target_group\": \"rural_household\", \"tier\": \"professional\", \"mode\": \"offline\",
  \"starts_on\": \"2020-08-08\"}" | jq .error          # -> 409 tier_out_of_order, field "tier"

# Completion after the course (at least 15 days), with the assessment result and the outcome
curl -sf -X POST $E/enrollments/$BASIC/completion -H "X-API-Key: $KEY" -H "$JSON" \
  -d '{"completed_on": "2020-08-24", "passed": true, "outcome": "own_business"}' | jq '{status, passed, outcome}'

# A cohort in bulk (CSV or JSON lines): every row gets its own verdict, bad rows never spoil good ones
cat > /tmp/cohort.csv <<CSV
id_number,name,phone,target_group,tier,mode,starts_on,niche
$ID_NUMBER,Liu Jiaqi,13800138000,rural_household,professional,offline,2020-09-01,cashmere and fur
110105194912310021,Wrong Digit,13900139000,unemployed,basic,online,2020-09-01,
CSV
PRO=$(curl -sf -X POST $E/cohorts -H "X-API-Key: $KEY" -H 'Content-Type: text/csv' --data-binary @/tmp/cohort.csv \
  | tee /dev/stderr | jq -r '.results[0].enrollment_id')
curl -sf -X POST $E/enrollments/$PRO/completion -H "X-API-Key: $KEY" -H "$JSON" \
  -d '{"completed_on": "2020-09-20", "passed": true, "outcome": "employed"}' > /dev/null

# The Bureau's progress report against the plan's targets
curl -sf $E/progress -H "X-API-Key: $BUREAU_API_KEY" | jq '.tiers.professional | {enrolled, completed, targets}'

# --- Funding: the completion became a 900-yuan subsidy (decided from the tier-completed event) ------
sleep 2
curl -sf $F/fund -H "X-API-Key: $FINANCE_API_KEY" | jq
SUBSIDY=$(curl -sf "$F/subsidies?institution_id=$INST&status=approved" -H "X-API-Key: $FINANCE_API_KEY" | jq -r '.[0].id')
curl -sf $F/decisions/$PRO -H "X-API-Key: $FINANCE_API_KEY" | jq '{status, amount_yuan, policy_version, ledger: [.ledger[].entry]}'
curl -sf "$F/institutions/$INST/statement?details=false" -H "X-API-Key: $FINANCE_API_KEY" | jq .totals

# Batch the institution's approved subsidies (declared figures must match the ledger), then pay
BATCH=$(curl -sf -X POST $F/payment-batches -H "X-API-Key: $FINANCE_API_KEY" -H 'X-Actor: accountant-wang' -H "$JSON" \
  -d "{\"institution_id\": \"$INST\", \"declared_count\": 1, \"declared_total_yuan\": 900}" | jq -r .batch_id)
curl -sf -X POST $F/payment-batches/$BATCH/pay -H "X-API-Key: $FINANCE_API_KEY" -H "$JSON" \
  -d '{"declared_total_yuan": 900}' | jq '{status, total_yuan}'
# A paid subsidy can no longer be reversed (an approved, unbatched one can: POST /subsidies/{id}/reverse)
curl -s -X POST $F/subsidies/$SUBSIDY/reverse -H "X-API-Key: $FINANCE_API_KEY" -H "$JSON" \
  -d '{"reason": "trainee did not attend"}' | jq .error     # -> 409 not_reversible

# --- Talent office: an introduced talent, evidence verified, a notice, a card ----------------------
TALENT_ID_NUMBER=$(.venv/bin/python -c "
import random; from plan_events.identity import check_digit
s = f'130105{random.randint(1970, 2000)}0505{random.randint(100, 999)}'; print(s + check_digit(s))")
TALENT=$(curl -sf -X POST $T/talents -H "X-API-Key: $TALENT_OFFICE_API_KEY" -H 'X-Actor: officer-zhou' -H "$JSON" -d "{
  \"id_number\": \"$TALENT_ID_NUMBER\", \"display_name\": \"Cashmere Queen\", \"evidence\": [
    {\"kind\": \"followers\", \"platform\": \"Douyin\", \"value\": 2400000},
    {\"kind\": \"local_presence\", \"detail\": \"runs a cashmere live room in Shijiazhuang\"}]}")
TALENT_UUID=$(echo "$TALENT" | jq -r .id)
echo "$TALENT" | jq .determination.explanation            # not yet: nothing is verified
for EVIDENCE in $(echo "$TALENT" | jq -r '.evidence[].id'); do
  RESULT=$(curl -sf -X POST $T/talents/$TALENT_UUID/evidence/$EVIDENCE/verification \
    -H "X-API-Key: $TALENT_OFFICE_API_KEY" -H 'X-Actor: officer-zhou' -H "$JSON" -d '{"verified": true}')
done
echo "$RESULT" | jq '.determination | {eligible, rule_id, rule_version, explanation}'
NOTICE=$(echo "$RESULT" | jq -r .determination.notice_id)
curl -sf "$T/notices?status=waiting&route=introduced" -H "X-API-Key: $TALENT_OFFICE_API_KEY" | jq length
curl -sf -X POST $T/notices/$NOTICE/acknowledgement -H "X-API-Key: $TALENT_OFFICE_API_KEY" | jq .status
curl -sf -X POST $T/notices/$NOTICE/card -H "X-API-Key: $TALENT_OFFICE_API_KEY" -H "$JSON" \
  -d "{\"card_number\": \"SJZ-GC-$RUN\"}" | jq '{status, card_number, id_masked}'
curl -sf $T/people/$(echo "$TALENT" | jq -r .person_id)/determinations -H "X-API-Key: $TALENT_OFFICE_API_KEY" \
  | jq '[.[] | {eligible, rule_id, rule_version}]'
echo "walk-through complete"
