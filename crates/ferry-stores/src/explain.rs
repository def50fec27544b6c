//! A store's errors in one line, saying what to check.

/// A store's error in one line. S3 answers in XML over several lines, and
/// `object_store` repeats the answer down its chain of causes; this keeps
/// the status, the code and the message, and says what to check.
pub fn explain(error: &object_store::Error) -> String {
    match error {
        object_store::Error::NotFound { .. } => return "there is no such object".to_owned(),
        object_store::Error::Precondition { .. } => {
            return "the object has changed since the reference to it was made".to_owned();
        }
        _ => {}
    }
    let text = error.to_string();
    let tag = |name: &str| {
        let (open, close) = (format!("<{name}>"), format!("</{name}>"));
        let start = text.find(&open)? + open.len();
        let end = start + text[start..].find(&close)?;
        Some(&text[start..end])
    };
    let status = text
        .split("status code: ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .map_or(String::new(), |status| format!("{}, ", status.trim()));
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => {
            let hint = match code {
                "SignatureDoesNotMatch" | "InvalidAccessKeyId" | "AccessDenied" => {
                    "; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                }
                _ => "",
            };
            format!("the store answered {status}{code}: {message}{hint}")
        }
        _ => text.lines().next().unwrap_or_default().to_owned(),
    }
}
