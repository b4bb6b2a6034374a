//! A rotation that spans providers (issue 14): the guide's ModelScope config plus an
//! OpenAI-compatible second provider standing in for OpenRouter's free tier.

use crate::transcripts;

/// The second provider's id in `models.providers`.
pub const OPENROUTER: &str = "openrouter";
/// Its one free model, as the provider names it, and as a full ref.
pub const OR_ID: &str = "qwen/qwen3-coder:free";
pub const OR: &str = "openrouter/qwen/qwen3-coder:free";

/// The guide's config (ModelScope at `base_url`) plus the `openrouter` provider at
/// `openrouter_url` with [`OR_ID`]; `extra` goes into `agents.defaults.model` as in
/// [`transcripts::guide_config`].
pub fn config_with_openrouter(base_url: &str, openrouter_url: &str, extra: &str) -> String {
    let provider = format!(
        "      }},\n      {OPENROUTER}: {{\n        baseUrl: \"{openrouter_url}\",\n        apiKey: \"${{OPENROUTER_API_KEY}}\",\n        api: \"openai-completions\",\n        models: [\n          {{ id: \"{OR_ID}\", name: \"Qwen3 Coder (free)\", contextWindow: 131072, maxTokens: 8192, cost: {{ input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }} }},\n        ],\n      }},\n    }},\n  }},\n  agents"
    );
    let text = transcripts::guide_config(base_url, extra).replacen(
        "      },\n    },\n  },\n  agents",
        &provider,
        1,
    );
    assert!(text.contains(OR_ID), "the guide config changed shape");
    text
}

/// msclaw settings for the chain: the magicube preset, Qwen and GLM, then the free model.
pub fn magicube_chain_settings() -> String {
    format!("models = [\"qwen3.5\", \"glm5\", \"{OR}\"]\npreset = \"modelscope-magicube\"\n")
}
