-- title: LLM spend over time
-- chart: line
-- description: USD per time bucket and model, priced from llm_prices (set
-- with `sluice migrate --llm-price`).
SELECT
    toDateTime(intDiv(toUInt32(completed_at), @step) * @step) AS time,
    model,
    round(sum(usd), 6) AS usd
FROM {{db}}.llm_cost
WHERE completed_at >= toDateTime(@from) AND completed_at < toDateTime(@to)
    AND (@workflow_type = '' OR workflow_type = @workflow_type)
GROUP BY time, model
ORDER BY time, model
