//! Table tests per type, recall on generated values, the hold-back soundness property, and (ignored)
//! the false-positive survey and the throughput benchmark.
//!
//! Token-shaped test values are assembled at run time from a seeded generator, so no literal in this
//! file looks like a live credential to a secret scanner.

use super::*;

/// A deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    fn string(&mut self, n: usize, alphabet: &str) -> String {
        let a = alphabet.as_bytes();
        (0..n).map(|_| char::from(*self.pick(a))).collect()
    }
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &str = "0123456789abcdef";
const UPPER_DIGIT: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A random value of `n` characters from `alphabet` that the rules accept as random (both cases and
/// a digit where the alphabet has them): what a real key almost always is.
fn token(r: &mut Rng, n: usize, alphabet: &str) -> String {
    loop {
        let v = r.string(n, alphabet);
        let k = value::classes(v.as_bytes());
        let want_digit = alphabet.bytes().any(|c| c.is_ascii_digit()) && n >= 16;
        let want_cases = alphabet.bytes().any(|c| c.is_ascii_uppercase())
            && alphabet.bytes().any(|c| c.is_ascii_lowercase());
        if (!want_digit || k.digit) && (!want_cases || (k.upper && k.lower)) {
            return v;
        }
    }
}

/// The AWS documentation's example secret key.
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn all() -> SecretScanner {
    SecretScanner::new(&SecretType::ALL)
}

fn found(sc: &SecretScanner, text: &str) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    sc.find(text, 0, &mut v);
    v.sort_unstable();
    v.dedup();
    v.into_iter()
        .map(|(s, e, t)| (t.name(), text[s..e].to_string()))
        .collect()
}

fn spans(sc: &SecretScanner, text: &str) -> Vec<(usize, usize, SecretType)> {
    let mut v = Vec::new();
    sc.find(text, 0, &mut v);
    v.sort_unstable();
    v.dedup();
    v
}

/// Every positive case: (text, type, value).
fn positives() -> Vec<(String, &'static str, String)> {
    let mut r = Rng(0x5eed_0001);
    let mut out: Vec<(String, &'static str, String)> = Vec::new();
    let mut add = |text: String, kind: &'static str, value: &str| {
        assert!(text.contains(value), "{text} / {value}");
        out.push((text, kind, value.to_string()));
    };

    // AWS_ACCESS_KEY
    add(
        "key AKIAIOSFODNN7EXAMPLE ok".into(),
        "AWS_ACCESS_KEY",
        "AKIAIOSFODNN7EXAMPLE",
    );
    let k = format!("ASIA{}", token(&mut r, 16, UPPER_DIGIT));
    add(format!("aws_access_key_id={k}\n"), "AWS_ACCESS_KEY", &k);
    add(format!("\"AccessKeyId\": \"{k}\","), "AWS_ACCESS_KEY", &k);

    // AWS_SECRET_KEY: every shape of the issue, and the old context rule.
    let w = AWS_SECRET;
    for text in [
        format!("aws_secret_access_key = {w}"),
        format!("AWS_SECRET_ACCESS_KEY={w}\n"),
        format!("export AWS_SECRET_ACCESS_KEY=\"{w}\"\n"),
        format!("{{\"AccessKeyId\": \"AKIAIOSFODNN7EXAMPLE\", \"SecretAccessKey\": \"{w}\"}}"),
        format!("{{\"aws_secret_access_key\": \"{w}\"}}"),
        format!("[default]\naws_secret_access_key = {w}\nregion = us-east-1\n"),
        format!("credentials:\n  aws_secret_access_key: {w}\n"),
        format!("  secretAccessKey: '{w}'"),
        format!("my aws secret is {w}."),
        format!("AKIAIOSFODNN7EXAMPLE,{w}\n"),
        format!("AWS_SECRET_KEY={w}"),
        // `paS` (a password stem) hides `Sec` from a streaming search
        format!("paSecretKey = {w}"),
    ] {
        add(text, "AWS_SECRET_KEY", w);
    }
    let w2 = token(&mut r, 40, B64);
    add(format!("SECRET_ACCESS_KEY: {w2}"), "AWS_SECRET_KEY", &w2);

    // API_KEY: each vendor.
    let v = format!("sk-proj-{}", token(&mut r, 48, B64URL));
    add(format!("OPENAI_API_KEY={v}\n"), "API_KEY", &v);
    add(
        "key sk-proj-abcdefghijklmnopqrstuvwxyz123456 ok".into(),
        "API_KEY",
        "sk-proj-abcdefghijklmnopqrstuvwxyz123456",
    );
    let v = format!("sk-{}", token(&mut r, 48, ALNUM));
    add(format!("openai.api_key = \"{v}\""), "API_KEY", &v);
    let v = format!("sk-svcacct-{}", token(&mut r, 60, B64URL));
    add(format!("key: {v}"), "API_KEY", &v);
    let v = format!("sk-ant-api03-{}AA", token(&mut r, 93, B64URL));
    add(format!("ANTHROPIC_API_KEY='{v}'"), "API_KEY", &v);
    let v = format!("sk-ant-admin01-{}AA", token(&mut r, 93, B64URL));
    add(format!("x-api-key: {v}"), "API_KEY", &v);
    for p in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
        let v = format!("{p}{}", token(&mut r, 36, ALNUM));
        add(format!("token {v} ok"), "API_KEY", &v);
    }
    add(
        "key ghp_abcdefghijklmnopqrstuvwxyz0123456789 ok".into(),
        "API_KEY",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    );
    let v = format!(
        "github_pat_{}_{}",
        token(&mut r, 22, ALNUM),
        token(&mut r, 59, ALNUM)
    );
    add(format!("GITHUB_TOKEN={v}"), "API_KEY", &v);
    let v = format!("glpat-{}", token(&mut r, 20, B64URL));
    add(format!("PRIVATE-TOKEN: {v}"), "API_KEY", &v);
    for p in ["xoxb-", "xoxp-", "xoxa-", "xoxe-"] {
        let v = format!(
            "{p}{}-{}-{}",
            r.string(12, "0123456789"),
            r.string(12, "0123456789"),
            token(&mut r, 24, ALNUM)
        );
        add(format!("SLACK_TOKEN=\"{v}\""), "API_KEY", &v);
    }
    add(
        "key xoxb-1234567890-abcdefghij ok".into(),
        "API_KEY",
        "xoxb-1234567890-abcdefghij",
    );
    let v = format!(
        "xapp-1-A{}-{}-{}",
        r.string(10, UPPER_DIGIT),
        r.string(13, "0123456789"),
        r.string(64, HEX)
    );
    add(format!("app token {v}"), "API_KEY", &v);
    let v = format!(
        "hooks.slack.com/services/T{}/B{}/{}",
        r.string(10, UPPER_DIGIT),
        r.string(10, UPPER_DIGIT),
        token(&mut r, 24, ALNUM)
    );
    add(format!("webhook: https://{v}"), "API_KEY", &v);
    for p in ["sk_live_", "sk_test_", "rk_live_", "rk_test_"] {
        let v = format!("{p}{}", token(&mut r, 24, ALNUM));
        add(format!("stripe.api_key = '{v}'"), "API_KEY", &v);
    }
    add(
        "key sk_live_abcdefghijklmnop1234 ok".into(),
        "API_KEY",
        "sk_live_abcdefghijklmnop1234",
    );
    let v = format!("whsec_{}", token(&mut r, 32, ALNUM));
    add(format!("STRIPE_WEBHOOK_SECRET={v}"), "API_KEY", &v);
    let v = format!("AIza{}", token(&mut r, 35, B64URL));
    add(format!("key={v}&q=x"), "API_KEY", &v);
    add(
        "key AIzaSyA1234567890abcdefghijklmnopqrstuv ok".into(),
        "API_KEY",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    );
    let v = format!("GOCSPX-{}", token(&mut r, 28, B64URL));
    add(format!("\"client_secret\":\"{v}\""), "API_KEY", &v);
    let v = format!("hf_{}", token(&mut r, 34, LETTERS));
    add(format!("HF_TOKEN={v}"), "API_KEY", &v);
    let v = format!("npm_{}", token(&mut r, 36, ALNUM));
    add(
        format!("//registry.npmjs.org/:_authToken={v}"),
        "API_KEY",
        &v,
    );
    let v = format!("pypi-AgEIcHlwaS5vcmc{}", token(&mut r, 150, B64URL));
    add(format!("password = {v}"), "API_KEY", &v);
    let v = format!(
        "SG.{}.{}",
        token(&mut r, 22, B64URL),
        token(&mut r, 43, B64URL)
    );
    add(format!("SENDGRID_API_KEY={v}"), "API_KEY", &v);
    let v = format!("shpat_{}", r.string(32, HEX));
    add(format!("token {v}"), "API_KEY", &v);
    let v = format!("dop_v1_{}", r.string(64, HEX));
    add(format!("token {v}"), "API_KEY", &v);
    let v = format!("glsa_{}_{}", token(&mut r, 32, ALNUM), r.string(8, HEX));
    add(format!("token {v}"), "API_KEY", &v);
    let v = format!("PMAK-{}-{}", r.string(24, HEX), r.string(34, HEX));
    add(format!("token {v}"), "API_KEY", &v);
    let v = format!(
        "{}{}Q~{}",
        token(&mut r, 3, LETTERS),
        r.below(10),
        token(&mut r, 34, ALNUM)
    );
    add(format!("AZURE_CLIENT_SECRET=\"{v}\""), "API_KEY", &v);
    let v = format!("{}==", token(&mut r, 86, B64));
    add(
        format!("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={v};EndpointSuffix=core.windows.net"),
        "API_KEY",
        &v,
    );
    let v = format!("{}=", token(&mut r, 43, B64));
    add(
        format!(
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey={v}"
        ),
        "API_KEY",
        &v,
    );
    let v = format!("{}%3D", token(&mut r, 43, ALNUM));
    add(
        format!(
            "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&ss=b&sp=r&se=2030-01-01&sig={v}"
        ),
        "API_KEY",
        &v,
    );

    // PRIVATE_KEY
    let body: Vec<String> = (0..5).map(|_| token(&mut r, 64, B64)).collect();
    let block = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----",
        body.join("\n")
    );
    add(format!("key:\n{block}\nthanks"), "PRIVATE_KEY", &block);
    let block = format!(
        "-----BEGIN PRIVATE KEY-----\\n{}\\n-----END PRIVATE KEY-----\\n",
        body.join("\\n")
    );
    add(
        format!("{{\"type\": \"service_account\", \"private_key\": \"{block}\"}}"),
        "PRIVATE_KEY",
        &block[..block.len() - 2],
    );
    let block = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----",
        body[..2].join("\n")
    );
    add(format!("id_ed25519:\n{block}\n"), "PRIVATE_KEY", &block);
    let block = format!(
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\n{}\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----",
        body.join("\n")
    );
    add(block.clone(), "PRIVATE_KEY", &block);
    let block = format!(
        "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,{}\n\n{}\n-----END EC PRIVATE KEY-----",
        r.string(32, "0123456789ABCDEF"),
        body[..3].join("\n")
    );
    add(format!("{block}\n"), "PRIVATE_KEY", &block);
    // Cut short: the header to the end of the body.
    let cut = format!(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\n{}\n{}",
        body[0],
        &body[1][..30]
    );
    add(cut.clone(), "PRIVATE_KEY", &cut);
    let cut_then_prose = format!("-----BEGIN DSA PRIVATE KEY-----\n{}\n{}", body[0], body[1]);
    add(
        format!("{cut_then_prose}\n(truncated) and so on."),
        "PRIVATE_KEY",
        &cut_then_prose,
    );

    // JWT
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{}.{}",
        token(&mut r, 60, B64URL),
        token(&mut r, 43, B64URL)
    );
    add(format!("Authorization: Bearer {jwt}\r\n"), "JWT", &jwt);
    add(format!("token={jwt}&x=1"), "JWT", &jwt);
    let unsigned = format!("eyJhbGciOiJub25lIn0.eyJ{}.", token(&mut r, 30, B64URL));
    add(format!("id_token: {unsigned} ok"), "JWT", &unsigned);
    // JWS-shaped segments in a row: one span over all of them, not one match at every `eyJ`.
    let chain = format!("{jwt}.{jwt}.{}", token(&mut r, 12, B64URL));
    add(format!("blob {chain} end"), "JWT", &chain);

    // URL_CREDENTIALS
    for (url, pw) in [
        (
            "postgres://app:S3cretPw@db.example.com:5432/app",
            "S3cretPw",
        ),
        ("postgresql://admin:hunter2@10.0.0.5/prod", "hunter2"),
        ("mysql://root:r00t!pw@localhost:3306/db", "r00t!pw"),
        ("redis://:p4ssw0rdX@cache:6379/0", "p4ssw0rdX"),
        (
            "mongodb+srv://svc:Zq81x%40y@cluster0.abcde.mongodb.net/test?retryWrites=true",
            "Zq81x%40y",
        ),
        ("amqp://guest:guest@rabbit:5672/", "guest"),
        ("https://deploy:tok3n@git.example.com/repo.git", "tok3n"),
        ("ftp://bob:pa@ss@files.example.org/pub", "pa@ss"),
    ] {
        add(format!("DATABASE_URL={url}\n"), "URL_CREDENTIALS", pw);
        add(format!("connect to ({url}) now"), "URL_CREDENTIALS", pw);
    }

    // GENERIC_SECRET
    let v = token(&mut r, 32, ALNUM);
    for text in [
        format!("API_KEY={v}\n"),
        format!("export MY_SERVICE_TOKEN={v}"),
        format!("{{\"apiKey\": \"{v}\"}}"),
        format!("client_secret: {v}\n"),
        format!("x-api-key: {v}\r\n"),
        format!("self.access_token = '{v}'"),
        format!("APIKEY := \"{v}\""),
        format!("'auth_token' => '{v}',"),
        format!("<add key=\"SigningKey\" value=\"x\"/> signingKey={v};"),
        format!("Authorization: Bearer {v}"),
        format!("[service]\ncredentials = {v}\n"),
    ] {
        add(text, "GENERIC_SECRET", &v);
    }
    let v = r.string(32, HEX);
    add(format!("SECRET_KEY = \"{v}\""), "GENERIC_SECRET", &v);
    let v = format!(
        "django-insecure-{}",
        r.string(50, "abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)")
    );
    add(format!("SECRET_KEY = '{v}'"), "GENERIC_SECRET", &v);
    let v = format!(
        "{}-{}-4{}-a{}-{}",
        r.string(8, HEX),
        r.string(4, HEX),
        r.string(3, HEX),
        r.string(3, HEX),
        r.string(12, HEX)
    );
    add(format!("HEROKU_API_KEY={v}"), "GENERIC_SECRET", &v);
    let v = token(&mut r, 44, B64);
    add(format!("encryption_key: \"{v}\""), "GENERIC_SECRET", &v);

    // PASSWORD: the current positives and the new shapes.
    for (text, pw) in [
        ("password: hunter2, then", "hunter2"),
        ("pwd=s3cr3t!", "s3cr3t!"),
        ("my passwd is 'letmein'", "letmein"),
        ("PASSWORD=S3cr3t!", "S3cr3t!"),
        ("pwd=abc123", "abc123"),
        ("PASSWORD=letmein\n", "letmein"),
        ("DB_PASSWORD=letmein # prod\n", "letmein"),
        ("  password: letmein\n", "letmein"),
        ("{\"password\": \"correct-horse\"}", "correct-horse"),
        ("{\"password\": \"Tr0ub4dor &3\"}", "Tr0ub4dor &3"),
        (
            "conn = connect(user='app', password='Xk9#mQ2v')",
            "Xk9#mQ2v",
        ),
        ("the password is Tr0ub4dor&3.", "Tr0ub4dor&3"),
        ("The Password Is \"swordfish\"", "swordfish"),
        ("userPassword: \"p@ssw0rd!\"", "p@ssw0rd!"),
        ("spring.datasource.password=Sup3rS3cret", "Sup3rS3cret"),
        ("login?user=bob&password=hunter22&next=/", "hunter22"),
        ("passphrase := \"open sesame 42\"", "open sesame 42"),
        ("PGPASSWORD=q1w2e3r4 psql -h db", "q1w2e3r4"),
        ("password = b'hunter2'", "hunter2"),
        ("my password is 12345678", "12345678"),
        ("Password: Summer2024!", "Summer2024!"),
        ("my passwd \u{130}s 'letmein'", "letmein"),
    ] {
        add(text.into(), "PASSWORD", pw);
    }
    out
}

#[test]
fn each_type_reports_its_value_with_the_exact_span() {
    let sc = all();
    for (text, kind, value) in positives() {
        let got = found(&sc, &text);
        assert!(
            got.contains(&(kind, value.clone())),
            "{text:?}: expected {kind} {value:?}, got {got:?}"
        );
    }
}

#[test]
fn each_type_alone_finds_its_positives() {
    for (text, kind, value) in positives() {
        let t = SecretType::from_name(kind).unwrap();
        let got = found(&SecretScanner::new(&[t]), &text);
        assert!(got.contains(&(kind, value.clone())), "{text:?}: {got:?}");
    }
}

/// Negatives: code, logs and prose that must produce nothing at all (any type).
const NEGATIVES: &[&str] = &[
    // PASSWORD false positives of the issue
    "password is required",
    "Error: password is incorrect",
    "the password is too short",
    "the password is stored hashed",
    "password = None",
    "connect(password=password)",
    "pwd = os.getcwd()",
    "password = self.password",
    "    password: str",
    "password = getpass()",
    "password=os.environ[\"X\"]",
    "password: Optional[str] = None",
    // more PASSWORD code and prose
    "password = getpass.getpass(\"Password: \")",
    "if password == stored:",
    "password_hash = hash(pw)",
    "passwords: list[str] = []",
    ":param password: the password to use.",
    "OLDPWD=/home/user",
    "PWD=/home/user/src",
    "print(\"password is\", pw)",
    "log.info(\"password: %s\", masked)",
    "password = '{}'.format(pw)",
    "password: ${DB_PASSWORD}",
    "password: \"<your password>\"",
    "password = '********'",
    "password=[REDACTED]",
    "'password': forms.PasswordInput(),",
    "labels = {'password': 'Password'}",
    "password: 8 characters minimum",
    "\"type\": \"password\", \"required\": true",
    "<input type=\"password\" name=\"password\">",
    "passwd:         files systemd",
    "the boarding pass is ready",
    "password=''",
    "password: !vault |",
    "password = kwargs.pop('password', None)",
    "pass",
    "password = user_password",
    "password: {{ vault_password }}",
    // GENERIC_SECRET negatives
    "API_KEY=your_api_key_here",
    "API_KEY=os.environ[\"API_KEY\"]",
    "api_key = settings.API_KEY",
    "TOKEN=${TOKEN}",
    "api_key: <YOUR_API_KEY>",
    "SECRET_KEY=changeme",
    "api_key=None",
    "token_url=https://auth.example.com/oauth2/token",
    "key = 'some_dictionary_key_name'",
    "key = \"d41d8cd98f00b204e9800998ecf8427e\"",
    "public_key = \"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\"",
    "primary_key = 'f3a9c2e1b4d5a6c7e8f9a0b1c2d3e4f5'",
    "next_page_token: CAoQAA2024xyzABCDEFG",
    "SECRET_KEY_NAME = DEFAULT_SECRET_KEY_2024",
    "token = tokenize.generate_tokens(readline)",
    "AUTH_TOKEN = \"sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
    "api_key: \"0123456789abcdef0123456789abcdef\"",
    "auth = HTTPBasicAuth(user, password_value)",
    "secret_key = secrets.token_hex(32)",
    "TOKEN: str = Field(default='', description='token')",
    // URL negatives
    "git clone ssh://git@github.com/org/repo.git",
    "see http://example.com:8080/path and https://a.b/c?d=e",
    "dsn = f\"postgres://{user}:{password}@{host}/{db}\"",
    "DATABASE_URL=postgres://user:password@localhost/mydb",
    "url = 'mysql://%s:%s@%s/%s' % (u, p, h, d)",
    "redirect to https://example.com:443@evil.example",
    "REDIS_URL=redis://:${REDIS_PASSWORD}@redis:6379",
    // AWS negatives
    "the aws cli docs mention thequickbrownfoxjumpsoverthelazydogtwice",
    "AKIAIOSFODNN7EXAMPLEX is glued",
    // PEM, JWT, tokens
    "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----\n<your key here>\n-----END PRIVATE KEY-----",
    "The file starts with -----BEGIN RSA PRIVATE KEY----- and contains the key material.",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n-----END CERTIFICATE-----",
    "the header eyJhbGciOiJIUzI1NiJ9 alone",
    "ask-management-system-for-teams is a task",
    "sk-learn and sk-some-long-component-name-here",
    "the ghost_in_the_machine_is_here_and_there_ok",
    "pip install sklearn; npm install left-pad; use xoxo-hugs",
    "Plan: use the AIzaNotAKeyBecauseItIsTooShort value",
    "Aug 12 10:30:45 host sshd[123]: Accepted publickey for root from 10.0.0.1 port 22",
    "2024-05-06T10:11:12Z INFO request_id=4f9c2a7e-1b3d-4c5e-8f9a-0b1c2d3e4f5a status=200",
    "time 10:30:45 and C++ std::vector<int> x = y;",
    "the word password alone",
    "ask at the desk",
    "password=''x",
    "pwd    =x",
];

#[test]
fn negatives_report_nothing() {
    let sc = all();
    for text in NEGATIVES {
        assert_eq!(found(&sc, text), vec![], "{text:?}");
    }
}

#[test]
fn specific_types_suppress_generic_and_password() {
    let sc = all();
    let mut r = Rng(7);
    let key = format!("sk-proj-{}", token(&mut r, 48, B64URL));
    assert_eq!(
        found(&sc, &format!("OPENAI_API_KEY={key}\n")),
        [("API_KEY", key.clone())]
    );
    assert_eq!(
        found(&sc, &format!("password: {key}")),
        [("API_KEY", key.clone())]
    );
    assert_eq!(
        found(&sc, &format!("AWS_SECRET_ACCESS_KEY={AWS_SECRET}\n")),
        [("AWS_SECRET_KEY", AWS_SECRET.to_string())]
    );
    // With the specific type off, the generic one reports the value.
    let generic = SecretScanner::new(&[SecretType::GenericSecret]);
    assert_eq!(
        found(&generic, &format!("OPENAI_API_KEY={key}\n")),
        [("GENERIC_SECRET", key)]
    );
}

#[test]
fn aws_secret_is_the_40_characters_only() {
    let sc = all();
    let glued = format!("aws_secret_access_key={AWS_SECRET}Zq9");
    assert!(!found(&sc, &glued)
        .iter()
        .any(|(k, _)| *k == "AWS_SECRET_KEY"));
    // Padding after 40 characters: a longer base64 value, not an AWS key.
    let padded = format!("aws_secret: {AWS_SECRET}=");
    assert!(!found(&sc, &padded)
        .iter()
        .any(|(k, _)| *k == "AWS_SECRET_KEY"));
    // An upper-case hex digest after `secret` is a generic secret, not an AWS key.
    assert_eq!(
        found(&sc, "secret: DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"),
        [(
            "GENERIC_SECRET",
            "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709".to_string()
        )]
    );
    // Beyond 40 characters of gap the context no longer counts.
    let far = format!("aws {} {AWS_SECRET}", "x".repeat(41));
    assert_eq!(found(&sc, &far), vec![]);
}

#[test]
fn find_reports_values_at_or_after_npos_with_context_before_it() {
    let sc = all();
    let text = format!("password: hunter22 and aws_secret_access_key = {AWS_SECRET}");
    let at = text.find("hunter22").unwrap();
    let mut v = Vec::new();
    sc.find(&text, at, &mut v);
    v.sort_unstable();
    v.dedup();
    assert_eq!(v.len(), 2, "{v:?}");
    v.clear();
    sc.find(&text, at + 1, &mut v);
    v.sort_unstable();
    v.dedup();
    assert_eq!(v.len(), 1, "{v:?}");
    let w = text.find(AWS_SECRET).unwrap();
    v.clear();
    sc.find(&text, w, &mut v);
    v.dedup();
    assert_eq!(v, [(w, w + 40, SecretType::AwsSecretKey)]);
    v.clear();
    sc.find(&text, text.len(), &mut v);
    assert!(v.is_empty());
}

#[test]
fn names_round_trip() {
    for t in SecretType::ALL {
        assert_eq!(SecretType::from_name(t.name()), Some(t));
    }
    assert_eq!(SecretType::from_name("EMAIL"), None);
}

/// Recall on generated realistic values: each shape in several assignment and prose contexts.
#[test]
fn recall_on_generated_values() {
    let sc = all();
    let mut r = Rng(0xdecaf);
    type Gen = fn(&mut Rng) -> String;
    let shapes: [(&str, &str, Gen); 16] = [
        ("GENERIC_SECRET", "hex32", |r| r.string(32, HEX)),
        ("GENERIC_SECRET", "hex40", |r| r.string(40, HEX)),
        ("GENERIC_SECRET", "hex64", |r| r.string(64, HEX)),
        ("GENERIC_SECRET", "base62-20", |r| r.string(20, ALNUM)),
        ("GENERIC_SECRET", "base62-32", |r| r.string(32, ALNUM)),
        ("GENERIC_SECRET", "base64-44", |r| r.string(44, B64)),
        ("GENERIC_SECRET", "base64url-43", |r| r.string(43, B64URL)),
        ("GENERIC_SECRET", "uuid", |r| {
            format!(
                "{}-{}-4{}-8{}-{}",
                r.string(8, HEX),
                r.string(4, HEX),
                r.string(3, HEX),
                r.string(3, HEX),
                r.string(12, HEX)
            )
        }),
        ("AWS_SECRET_KEY", "aws40", |r| r.string(40, B64)),
        ("PASSWORD", "password-12", |r| {
            r.string(
                12,
                "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!@#$%^*",
            )
        }),
        ("PASSWORD", "word+digits", |r| {
            let w = *r.pick(&[
                "summer", "Dragon", "monkey", "Shadow", "sunshine", "letmein",
            ]);
            let n = 2 + r.below(3);
            format!("{w}{}", r.string(n, "0123456789"))
        }),
        ("API_KEY", "ghp", |r| format!("ghp_{}", r.string(36, ALNUM))),
        ("API_KEY", "stripe", |r| {
            format!("sk_live_{}", r.string(99, ALNUM))
        }),
        ("JWT", "jwt", |r| {
            let n = 20 + r.below(400);
            format!(
                "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{}.{}",
                r.string(n, B64URL),
                r.string(86, B64URL)
            )
        }),
        ("PRIVATE_KEY", "pem", |r| {
            let lines: Vec<String> = (0..5 + r.below(20)).map(|_| r.string(64, B64)).collect();
            format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
                lines.join("\n")
            )
        }),
        ("URL_CREDENTIALS", "url", |r| {
            let n = 8 + r.below(16);
            r.string(
                n,
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$*+%",
            )
        }),
    ];
    for (kind, shape, gen) in shapes {
        let contexts: &[&str] = match kind {
            "GENERIC_SECRET" => &[
                "API_KEY={}\n",
                "\"client_secret\": \"{}\"",
                "auth_token: {}\n",
                "self.secret = '{}'",
            ],
            "AWS_SECRET_KEY" => &[
                "AWS_SECRET_ACCESS_KEY={}\n",
                "\"SecretAccessKey\": \"{}\"",
                "aws_secret_access_key = {}\n",
            ],
            "PASSWORD" => &[
                "password: {}\n",
                "\"password\": \"{}\"",
                "DB_PASSWORD={}\n",
                "the password is {} ok",
            ],
            "URL_CREDENTIALS" => &[
                "DATABASE_URL=postgres://app:{}@db.internal:5432/app\n",
                "redis://:{}@cache:6379/0",
                "see (https://deploy:{}@git.example.com/x.git).",
            ],
            "PRIVATE_KEY" | "JWT" => &["{}", "value: \"{}\"\n", "x={}&y"],
            _ => &["token {} ok", "GITHUB_TOKEN={}\n"],
        };
        let (mut hit, mut total) = (0, 0);
        for _ in 0..1000 {
            let v = gen(&mut r);
            for ctx in contexts {
                let text = ctx.replace("{}", &v);
                total += 1;
                if found(&sc, &text).contains(&(kind, v.clone())) {
                    hit += 1;
                } else if std::env::var("SECRET_MISSES").is_ok() {
                    println!("miss {kind} {shape}: {text:?}");
                }
            }
        }
        let recall = f64::from(hit) / f64::from(total);
        println!("{kind:<16} {shape:<14} recall {recall:.3} ({hit}/{total})");
        assert!(recall >= 0.95, "{kind} {shape}: recall {recall:.3}");
    }
}

// ---------------------------------------------------------------------------------------------
// Hold-back

fn hold(sc: &SecretScanner, s: &str) -> usize {
    sc.holdback(s, 0)
}

#[test]
fn prose_is_held_at_most_by_its_last_word() {
    let sc = all();
    for text in [
        "The quick brown fox jumps over the lazy dog",
        "We reviewed the password policy and the secret rotation schedule yesterday",
        "Use aws configure to set the access key and region for your profile",
        "def main():\n    return compute(x, y) + 1\n",
        "Nothing to see here.",
        "The token expired",
    ] {
        let h = hold(&sc, text);
        let last_word = text.rfind(|c: char| c.is_whitespace()).map_or(0, |i| i + 1);
        assert!(h >= last_word, "{text:?}: held from {h}");
    }
    assert_eq!(hold(&sc, "Nothing to see here."), 20);
    assert_eq!(hold(&sc, ""), 0);
    assert_eq!(sc.holdback("abc", 3), 3);
}

#[test]
fn partial_values_are_held_from_their_start() {
    let sc = all();
    let cases: Vec<(String, usize)> = vec![
        ("key AKIA12".into(), 4),
        ("token gh".into(), 6),
        ("token ghp_abc".into(), 6),
        ("x -----BEG".into(), 2),
        ("x ---".into(), 2),
        ("id ey".into(), 3),
        ("id eyJhbGciOiJIUzI1NiJ9.eyJzdWIi".into(), 3),
        ("password: hunte".into(), 10),
        ("password: \"hunter2 and".into(), 11),
        ("API_KEY=abc".into(), 8),
        ("url postgres://user:pa".into(), 20),
        ("url https://example.com:80".into(), 24),
        (format!("aws_secret_access_key = {}", &AWS_SECRET[..20]), 24),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE".into(), 0),
    ];
    for (text, want) in cases {
        assert_eq!(hold(&sc, &text), want, "{text:?}");
    }
    // Context words are not held: only values are spans.
    assert_eq!(hold(&sc, "the password: "), 14);
    assert_eq!(hold(&sc, "my passw"), 8);
    assert_eq!(hold(&sc, "aws_secret_access_key = "), 24);
    // A complete value followed by its terminator is settled.
    assert_eq!(hold(&sc, "password: hunter22 "), 19);
}

/// Fragments for the property test: every type, valid and cut short, and the separators and
/// contexts around them.
fn fragments(r: &mut Rng) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    let valid: Vec<String> = vec![
        "AKIAIOSFODNN7EXAMPLE".into(),
        format!("aws_secret_access_key = {AWS_SECRET}"),
        format!("AWS_SECRET_ACCESS_KEY={AWS_SECRET}"),
        format!("\"SecretAccessKey\": \"{AWS_SECRET}\""),
        format!("AKIAIOSFODNN7EXAMPLE,{AWS_SECRET}"),
        format!("sk-proj-{}", token(r, 30, B64URL)),
        format!("ghp_{}", token(r, 36, ALNUM)),
        format!(
            "xoxb-{}-{}",
            r.string(10, "0123456789"),
            token(r, 12, ALNUM)
        ),
        format!("AIza{}", token(r, 35, B64URL)),
        format!("sk_test_{}", token(r, 20, ALNUM)),
        format!("glsa_{}_{}", token(r, 32, ALNUM), r.string(8, HEX)),
        format!("SG.{}.{}", token(r, 22, B64URL), token(r, 43, B64URL)),
        format!(
            "{}{}Q~{}",
            token(r, 3, LETTERS),
            r.below(10),
            token(r, 33, ALNUM)
        ),
        format!(
            "hooks.slack.com/services/T{}/B{}/{}",
            r.string(9, UPPER_DIGIT),
            r.string(9, UPPER_DIGIT),
            token(r, 24, ALNUM)
        ),
        format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{}\n{}\n-----END RSA PRIVATE KEY-----",
            token(r, 40, B64),
            token(r, 20, B64)
        ),
        format!(
            "-----BEGIN PRIVATE KEY-----\\n{}\\n-----END PRIVATE KEY-----",
            token(r, 30, B64)
        ),
        format!(
            "eyJhbGciOiJIUzI1NiJ9.eyJ{}.{}",
            token(r, 12, B64URL),
            token(r, 10, B64URL)
        ),
        format!("eyJhbGciOiJub25lIn0.eyJ{}.", token(r, 10, B64URL)),
        "postgres://app:S3cretPw@db:5432/x".into(),
        "redis://:p4ss@h".into(),
        "ftp://u:p@q@h/x".into(),
        "https://host.example:8080@evil".into(),
        format!("API_KEY={}", token(r, 20, ALNUM)),
        format!("\"client_secret\": \"{}\"", token(r, 24, ALNUM)),
        format!("Authorization: Bearer {}", token(r, 24, ALNUM)),
        format!("AccountKey={}==;", token(r, 86, B64)),
        format!("?sv=2022&sig={}%3D", token(r, 40, ALNUM)),
        "password: hunter2".into(),
        "PASSWORD=letmein".into(),
        "my passwd is 'letmein'".into(),
        "pwd=s3cr3t!".into(),
        "the password is Tr0ub4dor&3".into(),
        "password = None".into(),
        "\"password\": \"Tr0ub4dor &3\"".into(),
    ];
    for f in valid {
        // whole, and cut at a random character boundary
        let cut = {
            let mut k = r.below(f.len() + 1);
            while !f.is_char_boundary(k) {
                k -= 1;
            }
            f[..k].to_string()
        };
        v.push(f);
        v.push(cut);
    }
    for s in [
        " ", " ", "\n", "=", ": ", "\"", "'", ",", "x", "-", "_", "a1", ".", "@", ":", "/", "//",
        "password", "pass", "secret", "aws", " is ", "API_KEY=", "://", "-----", "eyJ", "é",
        "\u{3000}", "==", "Q~", "\\n", "\r\n", "ab", "Z9", "sk-", "ghp_",
    ] {
        v.push(s.to_string());
    }
    v
}

#[test]
fn holdback_is_sound() {
    let mut r = Rng(0xfeed_beef);
    let scanners = [
        all(),
        SecretScanner::new(&[SecretType::Password]),
        SecretScanner::new(&[SecretType::GenericSecret, SecretType::AwsSecretKey]),
    ];
    let cases = if cfg!(debug_assertions) { 250 } else { 2000 };
    for case in 0..cases {
        let frags = fragments(&mut r);
        let mut t = String::new();
        for _ in 0..1 + r.below(7) {
            let f = r.pick(&frags).clone();
            t.push_str(&f);
            if r.below(2) == 0 {
                let sep = *r.pick(&[" ", "\n", ", ", "x", "=", ""]);
                t.push_str(sep);
            }
        }
        let sc = &scanners[case % scanners.len()];
        check_sound(sc, &t);
    }
}

fn check_sound(sc: &SecretScanner, t: &str) {
    let full = spans(sc, t);
    for k in (0..=t.len()).filter(|&k| t.is_char_boundary(k)) {
        let p = &t[..k];
        let h = sc.holdback(p, 0);
        assert!(h <= k && p.is_char_boundary(h), "{p:?}: {h}");
        let part = spans(sc, p);
        for m in &full {
            assert!(
                m.0 >= h || part.contains(m),
                "released {:?} of {m:?} ({:?}) in {t:?} at {k}: h={h}, prefix finds {part:?}",
                &t[..h],
                &t[m.0..m.1]
            );
        }
        for m in &part {
            assert!(
                m.1 > h || full.contains(m),
                "prefix match {m:?} ({:?}) ends by h={h} but is not in the full text {t:?}",
                &p[m.0..m.1]
            );
        }
        // Holding from a later position never releases less.
        if k > 0 {
            let lo = (k / 2..=k).find(|&i| p.is_char_boundary(i)).unwrap();
            assert_eq!(sc.holdback(p, lo), h.max(lo), "{p:?} lo={lo}");
        }
    }
}

/// Short texts over an alphabet of rule pieces: the rules' edges (a quote not closed, a run one
/// short, a footer half there) meet far more often than in realistic text.
#[test]
fn holdback_is_sound_on_rule_pieces() {
    const PIECES: &[&str] = &[
        "password",
        "pwd",
        "pass",
        " is ",
        ":",
        "=",
        " ",
        "'",
        "\"",
        "x",
        "1",
        "!",
        "S3",
        "\n",
        "AKIA",
        "ABCDEFGHIJKLMNOP",
        "QRSTUVWX23",
        "eyJ",
        "abcdefghij",
        ".",
        "-----BEGIN ",
        "PRIVATE KEY",
        "-----",
        "END ",
        "MIIEvQIBADAN+/Bg",
        "://",
        "pg",
        "@",
        "sk-",
        "ghp_",
        "aws",
        "secret",
        "KEY",
        "API_KEY",
        "_",
        "Q~",
        "ab1",
        "9",
        "&",
        ";",
        "wJalrXUtnFEMI/K7",
        "MDENG/bPxRfiCYEXAMPLEKEY",
        "zQ8v",
        "é",
        "hooks.slack.com/services/",
        "T0",
        "/",
        "==",
        "Bearer ",
        "Authorization",
        "sv=1&sig=",
        "AccountKey=",
        "${X}",
        "<",
    ];
    let mut r = Rng(0x0dd_ba11);
    let scanners = [
        all(),
        SecretScanner::new(&[SecretType::Password, SecretType::UrlCredentials]),
        SecretScanner::new(&[SecretType::GenericSecret, SecretType::ApiKey]),
    ];
    let cases = if cfg!(debug_assertions) { 400 } else { 8000 };
    for case in 0..cases {
        let mut t = String::new();
        for _ in 0..1 + r.below(14) {
            let p = *r.pick(PIECES);
            t.push_str(p);
        }
        check_sound(&scanners[case % scanners.len()], &t);
    }
}

/// With a long text and `lo` far into it, the hold-back looks at the tail only, yet finds an open
/// token, JWT or key block however far back it started.
#[test]
fn holdback_from_lo_sees_long_open_spans() {
    let sc = all();
    let mut r = Rng(3);
    let filler = "All work and no play makes Jack a dull boy. ".repeat(100);
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiJ9.eyJ{}.{}",
        token(&mut r, 3000, B64URL),
        token(&mut r, 500, B64URL)
    );
    let pem = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}",
        (0..40)
            .map(|_| token(&mut r, 64, B64))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let pypi = format!("pypi-AgEIcHlwaS5vcmc{}", token(&mut r, 900, B64URL));
    for open in [&jwt, &pem, &pypi] {
        let text = format!("{filler}{open}");
        let start = filler.len();
        assert_eq!(hold(&sc, &text), start);
        // Far past the start of the span: everything from `lo` may still be part of it.
        let lo = text.len() - 10;
        assert_eq!(sc.holdback(&text, lo), lo);
        // Closed, it is settled.
        let done = format!("{text}\n-----END RSA PRIVATE KEY-----\n ok");
        let h = sc.holdback(&done, done.len() - 20);
        assert!(h >= done.len() - 3, "{h} of {}", done.len());
    }
    // A JWT followed by a dot may go on with another segment: it is still open.
    let text = format!("{filler}{jwt}.");
    assert_eq!(hold(&sc, &text), filler.len());
    // Prose and code after a long stretch are held by their last word only.
    let text = format!("{filler}and that is all");
    assert_eq!(sc.holdback(&text, text.len() - 30), text.len() - 3);
}

/// Arbitrary characters (every printable ASCII byte, controls, multi-byte characters): nothing
/// panics, every span and hold-back is on character boundaries, and the property holds.
#[test]
fn arbitrary_text() {
    let mut r = Rng(0xa11);
    let mut alphabet: Vec<char> = (0x20u8..0x7f).map(char::from).collect();
    alphabet.extend([
        '\n', '\t', '\r', 'é', '\u{3000}', '\u{130}', '€', '😀', '\u{0}',
    ]);
    let sc = all();
    let cases = if cfg!(debug_assertions) { 100 } else { 1500 };
    for _ in 0..cases {
        let n = r.below(200);
        let t: String = (0..n).map(|_| *r.pick(&alphabet)).collect();
        for (a, z, _) in spans(&sc, &t) {
            assert!(
                a < z && t.is_char_boundary(a) && t.is_char_boundary(z),
                "{t:?}"
            );
        }
        check_sound(&sc, &t);
    }
}

#[test]
fn holdback_is_sound_on_the_table() {
    let sc = all();
    for (text, _, _) in positives().into_iter().step_by(3) {
        check_sound(&sc, &text);
    }
    for text in NEGATIVES.iter().step_by(4) {
        check_sound(&sc, text);
    }
}
