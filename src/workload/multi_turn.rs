//! Multi-turn conversations: each turn sends the whole history so far (the system prompt,
//! every earlier user message and reply) plus a new user message, as a chat client does.
//! Conversations come from a ShareGPT file (every turn, not only the first) or from a
//! seeded generator (turns, user and assistant lengths, a system prompt shared by every
//! conversation). The history holds the data set's (or the generator's) replies, not the
//! model's, so every run sends the same prompts whatever the model answers.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::synthetic;
use crate::engine::{Message, Prompt, Request, Turn};
use crate::error::{Error, Result};

/// One conversation: its turns, each a user message and the reply that followed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    pub turns: Vec<(String, String)>,
}

/// Where conversations come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Chats {
    /// Seeded conversations of `turns` turns: user messages of `user_len` words, replies
    /// of `assistant_len` (also each turn's output length), after a system prompt of
    /// `system_len` words that every conversation shares.
    Synthetic {
        turns: usize,
        user_len: usize,
        assistant_len: usize,
        system_len: usize,
        seed: Option<u64>,
    },
    /// A ShareGPT file's conversations, every turn.
    ShareGpt {
        #[serde(rename = "conversations", serialize_with = "count")]
        conversations: Vec<Conversation>,
    },
}

fn count<T, S: serde::Serializer>(v: &[T], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(v.len() as u64)
}

#[derive(Deserialize)]
struct ShareGptFile {
    conversations: Vec<ShareGptTurn>,
}

#[derive(Deserialize)]
struct ShareGptTurn {
    from: String,
    value: String,
}

fn is_human(from: &str) -> bool {
    matches!(from, "human" | "user")
}

/// Reads every turn of every conversation of a ShareGPT file: each human message with
/// the reply after it. A conversation with an empty message is an error naming it; one
/// without a human message followed by a reply is skipped, as vLLM does.
pub fn read_sharegpt(path: &Path) -> Result<Vec<Conversation>> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let convs: Vec<ShareGptFile> = serde_json::from_str(&text).map_err(|e| {
        Error::workload(
            &origin,
            format!("not a ShareGPT file (expected a JSON array of {{\"conversations\": [{{\"from\", \"value\"}}]}}): {e}"),
        )
    })?;
    let mut out = Vec::new();
    for (c, conv) in convs.iter().enumerate() {
        if let Some(t) = conv
            .conversations
            .iter()
            .position(|t| t.value.trim().is_empty())
        {
            return Err(Error::workload(
                &origin,
                format!("conversation {c}, turn {t}: the message is empty"),
            ));
        }
        let mut turns = Vec::new();
        let mut msgs = conv.conversations.iter().peekable();
        while let Some(m) = msgs.next() {
            if !is_human(&m.from) {
                continue;
            }
            if let Some(reply) = msgs.next_if(|r| !is_human(&r.from)) {
                turns.push((m.value.clone(), reply.value.clone()));
            }
        }
        if !turns.is_empty() {
            out.push(Conversation { turns });
        }
    }
    if out.is_empty() {
        return Err(Error::workload(
            origin,
            "no conversation has a human turn followed by a model turn",
        ));
    }
    Ok(out)
}

/// What a multi-turn workload's requests are built from.
pub struct Plan<'a> {
    pub chats: &'a Chats,
    pub conversations: usize,
    pub think_us: u64,
    pub output_len: Option<usize>,
    pub chat: bool,
    pub ignore_eos: bool,
    pub seed: u64,
}

/// Builds every turn of every conversation, conversation by conversation and turns in
/// order. `count` measures a reply's tokens (for a ShareGPT turn's output length).
pub fn requests<E>(
    plan: &Plan<'_>,
    count: &mut dyn FnMut(&Request) -> std::result::Result<Option<usize>, E>,
) -> std::result::Result<Vec<Request>, E> {
    let mut out = Vec::new();
    let (system, conversations) = conversations(plan);
    for (c, conv) in conversations.iter().enumerate() {
        let mut history: Vec<Message> = Vec::new();
        if let Some(s) = &system {
            history.push(message("system", s));
        }
        for (t, (user, reply)) in conv.turns.iter().enumerate() {
            history.push(message("user", user));
            let max = match (plan.output_len, plan.chats) {
                (Some(n), _) => n,
                (None, Chats::Synthetic { assistant_len, .. }) => *assistant_len,
                (None, Chats::ShareGpt { .. }) => {
                    let r = request(out.len(), Prompt::Text(reply.clone()), 1, plan);
                    count(&r)?.unwrap_or(reply.len() / 4)
                }
            };
            let prompt = if plan.chat {
                Prompt::Chat(history.clone())
            } else {
                Prompt::Text(
                    history
                        .iter()
                        .map(|m| m.content.as_str())
                        .collect::<Vec<_>>()
                        .join("\n"),
                )
            };
            let mut r = request(out.len(), prompt, max.max(1), plan);
            r.turn = Some(Turn {
                conversation: c as u64,
                index: t as u32,
                think_us: if t == 0 { 0 } else { plan.think_us },
            });
            out.push(r);
            history.push(message("assistant", reply));
        }
    }
    Ok(out)
}

fn message(role: &str, content: &str) -> Message {
    Message {
        role: role.into(),
        content: content.into(),
    }
}

fn request(id: usize, prompt: Prompt, max: usize, plan: &Plan<'_>) -> Request {
    Request {
        id: id as u64,
        prompt,
        max_tokens: max.min(u32::MAX as usize) as u32,
        ignore_eos: plan.ignore_eos,
        category: None,
        expected: None,
        arrival_us: None,
        turn: None,
    }
}

/// The shared system prompt, if any, and the conversations: the first `conversations`
/// of a file (cycled), or as many generated.
fn conversations(plan: &Plan<'_>) -> (Option<String>, Vec<Conversation>) {
    match plan.chats {
        Chats::ShareGpt { conversations } => (
            None,
            (0..plan.conversations)
                .map(|i| conversations[i % conversations.len()].clone())
                .collect(),
        ),
        Chats::Synthetic {
            turns,
            user_len,
            assistant_len,
            system_len,
            seed,
        } => {
            let seed = seed.unwrap_or(plan.seed);
            let text = |stream: u64, n: usize| {
                synthetic::words(&mut synthetic::rng(seed, stream), n).join(" ")
            };
            let system = (*system_len > 0).then(|| text(7, *system_len));
            let convs = (0..plan.conversations as u64)
                .map(|c| Conversation {
                    turns: (0..*turns as u64)
                        .map(|t| {
                            let stream = 1_000_000 + c * 2_000 + t * 2;
                            (text(stream, *user_len), text(stream + 1, *assistant_len))
                        })
                        .collect(),
                })
                .collect();
            (system, convs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(chats: &Chats) -> Plan<'_> {
        Plan {
            chats,
            conversations: 2,
            think_us: 5_000,
            output_len: None,
            chat: true,
            ignore_eos: true,
            seed: 1,
        }
    }

    #[test]
    fn each_turn_resends_the_history_after_the_shared_system_prompt() {
        let chats = Chats::Synthetic {
            turns: 3,
            user_len: 4,
            assistant_len: 6,
            system_len: 5,
            seed: None,
        };
        let rs = requests::<()>(&plan(&chats), &mut |_| Ok(None)).unwrap();
        assert_eq!(rs.len(), 6);
        let msgs = |i: usize| match &rs[i].prompt {
            Prompt::Chat(m) => m.clone(),
            Prompt::Text(_) => panic!("chat expected"),
        };
        // Turn k holds the system prompt, k earlier exchanges and the new message.
        assert_eq!(msgs(2).len(), 1 + 2 * 2 + 1);
        assert_eq!(msgs(2)[..3], msgs(1)[..3]);
        assert_eq!(msgs(2)[0].role, "system");
        assert_eq!(msgs(0)[0], msgs(3)[0], "one system prompt for all");
        assert_ne!(msgs(0)[1], msgs(3)[1], "each conversation its own messages");
        assert_eq!(msgs(1)[2].content.split(' ').count(), 6);
        let turns: Vec<(u64, u32, u64)> = rs
            .iter()
            .map(|r| {
                r.turn
                    .map(|t| (t.conversation, t.index, t.think_us))
                    .unwrap()
            })
            .collect();
        assert_eq!(turns[..3], [(0, 0, 0), (0, 1, 5_000), (0, 2, 5_000)]);
        assert_eq!(turns[3], (1, 0, 0));
        assert!(rs.iter().all(|r| r.max_tokens == 6));
    }

    #[test]
    fn sharegpt_gives_every_turn_and_refuses_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(
            &path,
            r#"[{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello there"},
                                  {"from": "human", "value": "how are you"}, {"from": "gpt", "value": "well"}]}]"#,
        )
        .unwrap();
        let convs = read_sharegpt(&path).unwrap();
        assert_eq!(convs[0].turns.len(), 2);
        assert_eq!(convs[0].turns[1].0, "how are you");
        std::fs::write(
            &path,
            r#"[{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": " "}]}]"#,
        )
        .unwrap();
        let e = read_sharegpt(&path).unwrap_err().to_string();
        assert!(
            e.contains("conversation 0, turn 1: the message is empty"),
            "{e}"
        );
    }
}
