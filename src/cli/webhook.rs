//! `didhub webhook add|list|remove`: the operator's own webhook endpoints,
//! which receive the events of every account (issue 14).

use crate::config::WebhookUrlArgs;
use crate::domain::billing::rfc3339;
use crate::domain::webhook::UrlPolicy;
use crate::service::{Service, parse_event_types};
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add an endpoint for every account's events and print its signing secret once.
    Add {
        url: String,
        /// Event types to send (comma-separated, e.g. number.assigned,balance.low); all when absent.
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        #[command(flatten)]
        urls: WebhookUrlArgs,
    },
    /// List the operator's endpoints.
    List,
    /// Remove an endpoint; events not yet delivered to it are dropped.
    Remove { id: i64 },
}

impl WebhookCommand {
    /// The URL rules `add` checks against (the others check nothing).
    pub fn url_policy(&self) -> UrlPolicy {
        match self {
            WebhookCommand::Add { urls, .. } => urls.policy(),
            _ => UrlPolicy::default(),
        }
    }
}

pub async fn run(service: Service, command: WebhookCommand) -> anyhow::Result<ExitCode> {
    match command {
        WebhookCommand::Add { url, events, .. } => {
            let types = parse_event_types(&events)?;
            let (endpoint, secret) = service.create_webhook(None, &url, &types).await?;
            println!("webhook {} -> {}", endpoint.id, endpoint.url);
            println!("secret {secret}");
        }
        WebhookCommand::List => {
            for e in service.list_webhooks(None).await? {
                let types: Vec<&str> = e.event_types.iter().map(|t| t.code()).collect();
                let types = if types.is_empty() {
                    "*".to_owned()
                } else {
                    types.join(",")
                };
                let reason = e.disabled_reason.as_deref().unwrap_or("");
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{reason}",
                    e.id,
                    e.status,
                    e.url,
                    types,
                    rfc3339(e.created_at)
                );
            }
        }
        WebhookCommand::Remove { id } => {
            service.delete_webhook(None, id).await?;
            println!("webhook {id} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
