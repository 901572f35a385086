-- title: LLM spend per model
-- chart: table
-- description: Calls, tokens, latency and spend per model and purpose,
-- priced from llm_prices (set with `sluice migrate --llm-price`).
SELECT
    model,
    purpose,
    count() AS calls,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    round(quantileExact(0.5)(latency_us) / 1000, 1) AS latency_p50_ms,
    round(sum(usd), 6) AS usd
FROM {{db}}.llm_cost
WHERE completed_at >= toDateTime(@from) AND completed_at < toDateTime(@to)
    AND (@workflow_type = '' OR workflow_type = @workflow_type)
GROUP BY model, purpose
ORDER BY usd DESC, calls DESC, model, purpose
