"""Scrapy settings: Scrapy's polite project defaults, tuned per platform in each spider."""

from reach.settings import get_settings

BOT_NAME = "ambassador-reach"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

USER_AGENT = f"ambassador-reach/0.1 (+{get_settings().contact_url})"
ROBOTSTXT_OBEY = True

# Pacing comes from the platforms' own rate-limit headers and budgets (RateLimitMiddleware);
# concurrency stays modest per host.
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8
DOWNLOAD_DELAY = 0
DOWNLOAD_TIMEOUT = 20
# Scrapy's defaults (1 GB, warn at 32 MB) let one hostile answer fill the crawl's memory. Each
# spider sets its own caps per kind of page (API, feed, item page); this is the ceiling for the
# rest (robots.txt). Over the cap the download is cancelled and the account fails with the reason.
DOWNLOAD_MAXSIZE = 16 * 2**20
DOWNLOAD_WARNSIZE = 4 * 2**20
DOWNLOAD_DELAY_JITTER = 0  # pacing is exact: RateLimitMiddleware spaces requests to the budget

# 5xx and timeouts are retried with backoff; 429 is handled by RateLimitMiddleware, which
# waits for Retry-After or the reset time instead of retrying blindly.
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408]
RETRY_BACKOFF_BASE = 0.5
RETRY_BACKOFF_MAX = 30

# Certificates are verified (Scrapy's default accepts any); REACH_TLS_UNVERIFIED_HOSTS names exceptions.
DOWNLOAD_VERIFY_CERTIFICATES = True
DOWNLOADER_CLIENTCONTEXTFACTORY = "crawler.handlers.VerifyingContextFactory"
# Names are resolved to public addresses only (unless REACH_ALLOW_PRIVATE_HOSTS): checked where
# the connection is made, so DNS rebinding between a check and the connection gets nowhere.
TWISTED_DNS_RESOLVER = "crawler.handlers.GuardedResolver"

DOWNLOAD_HANDLERS = {
    "http": "crawler.handlers.KeepAliveHTTPDownloadHandler",
    "https": "crawler.handlers.KeepAliveHTTPDownloadHandler",
}
REACH_IDLE_CONNECTIONS_PER_HOST = 2 * CONCURRENT_REQUESTS

DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.PrivateHostGuardMiddleware": 50,
    # In place of Scrapy's own (100), which let all but the first request waiting for a host's
    # robots.txt through unchecked (docs/development.md, "Known issues").
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.middlewares.RobotsTxtEveryRequestMiddleware": 100,
    "crawler.middlewares.RateLimitMiddleware": 560,
    # Stock middlewares with nothing to do here cost CPU on every request of a CPU-bound crawl:
    # no allowed_domains to enforce, no HTTP auth, no <meta refresh> in APIs and feeds.
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    # COOKIES_ENABLED is off; without this entry its module (and tldextract) is still imported.
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
}
SPIDER_MIDDLEWARES = {
    # No depth or URL-length limits to enforce.
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}
ITEM_PIPELINES = {
    "crawler.pipelines.ValidationPipeline": 100,
    "crawler.pipelines.DatabaseWriterPipeline": 300,
}
EXTENSIONS = {
    "crawler.extensions.StatsFileExtension": 500,
    "scrapy.extensions.telnet.TelnetConsole": None,
    # A localhost endpoint that runs Python: never on, and not loaded (its aiohttp import slows
    # every crawl process's start).
    "scrapy.extensions.remote_control.RemoteControl": None,
}
REMOTE_CONTROL_ENABLED = False
TELNETCONSOLE_ENABLED = False
COOKIES_ENABLED = False
REFERRER_POLICY = "no-referrer"  # nothing to gain from telling a platform our previous request
HTTPCACHE_ENABLED = False
# The stats line the crawl's progress is read from (REACH_PROGRESS_SECONDS asks for it oftener).
LOGSTATS_INTERVAL = min(5.0, get_settings().progress_seconds)
# Scrapy starts CONCURRENT_ITEMS asyncio tasks for every callback's output, however few items it
# holds; our pipelines are synchronous, so one at a time loses nothing and saves much CPU.
CONCURRENT_ITEMS = 1
# Scrapy re-reads a generator callback's source for every response to warn about `return x`;
# our callbacks are bound methods, so its cache never hits.
WARN_ON_GENERATOR_RETURN_VALUE = False
LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"

# Per-host request budgets used when a platform sends no rate-limit headers.
# Mastodon: 300 requests / 5 min per IP without a token (docs: "Rate limits").
# Bluesky AppView: 3,000 requests / 5 min per IP.
REACH_RATE_BUDGETS = {"mastodon": (300, 300), "bluesky": (3000, 300)}
# Paging requests (a `max_id`, `min_id`, `since_id` or `page` parameter) count against this budget
# as well. Mastodon: 300 / 15 min per IP, its rack-attack `throttle_unauthenticated_paging`
# (config/initializers/rack_attack.rb; docs: "Rate limits").
REACH_PAGING_BUDGETS = {"mastodon": (300, 900)}
REACH_RATE_LIMITS_ENABLED = True
# Page size for the paged APIs; None means each platform's documented maximum (tests lower it).
REACH_PAGE_SIZE = None
