"""Word material for generated posts: sentences per language, tags, links, names.

Plain text only; :mod:`extract.simulator.markup` escapes it. Several sentences carry characters
that must be escaped (``&``, ``'``, ``"``, ``<``) or that are outside ASCII, on purpose.
"""

from __future__ import annotations

SENTENCES: dict[str, list[str]] = {
    "en": [
        "Good morning, fediverse!",
        "Just finished reading a great book about distributed systems.",
        "Coffee first, then code. That's the rule.",
        "Does anyone know a good tutorial on dbt incremental models?",
        "The sunset tonight was absolutely stunning 🌅",
        "I can't believe it's already the end of the month.",
        "Hot take: tabs & spaces both have their place.",
        "Our community garden harvested 12 kg of tomatoes this week!",
        "Reminder: back up your data. Then test the backup.",
        "Why is it always DNS? It's always DNS.",
        "Shipping a small fix today: timeouts < 5 s now retry once.",
        "My cat has decided the keyboard is the warmest spot in the house.",
        "Terrible weather, great soup. Balance restored.",
        "Reading \"The Pragmatic Programmer\" again after ten years.",
        "Thanks to everyone who came to the meetup yesterday ❤️",
        "Is it just me or is the train late again?",
        "New blog post is up, feedback welcome.",
        "Learning to bake sourdough. Day 3: the starter is alive.",
        "Open source maintainers deserve more support, full stop.",
        "Trying out a new keyboard layout and typing like a toddler.",
        "Spent the afternoon fixing a bug that was a single missing comma.",
        "The library had a book sale & I have no self-control.",
    ],
    "de": [
        "Guten Morgen zusammen!",
        "Heute endlich den Balkon bepflanzt 🌱",
        "Wer kennt eine gute Einführung in PostgreSQL?",
        "Der Zug hat mal wieder Verspätung. Überraschung!",
        "Schönes Wochenende euch allen.",
        "Ich habe gestern einen großartigen Vortrag über Datenschutz gehört.",
        "Kaffee & Kuchen am Sonntag sind Pflicht.",
        "Die Straßenbahn fährt heute nicht, also wird geradelt.",
        "Neuer Blogartikel: Warum wir auf freie Software setzen.",
        "Es regnet seit drei Tagen ununterbrochen.",
    ],
    "fr": [
        "Bonjour tout le monde !",
        "Je viens de finir un excellent roman, je le recommande.",
        "Quelqu'un connaît une bonne boulangerie près de la gare ?",
        "Il fait un temps magnifique aujourd'hui ☀️",
        "Petit rappel : sauvegardez vos données.",
        "Le café du matin, c'est sacré.",
        "On organise une rencontre « logiciels libres » jeudi soir.",
        "Ça y est, les vacances commencent enfin.",
        "J'ai testé une nouvelle recette de crêpes & c'était parfait.",
    ],
    "es": [
        "¡Buenos días a todos!",
        "Hoy he terminado un proyecto que me tenía muy ocupado.",
        "¿Alguien recomienda un buen libro de ciencia ficción?",
        "Qué calor hace esta semana 🥵",
        "Mañana hay reunión de la comunidad, ¡os esperamos!",
        "Aprendiendo a tocar la guitarra, paso a paso.",
        "El atardecer desde la azotea es otra cosa.",
        "Nueva entrada en el blog sobre software libre.",
    ],
    "ja": [
        "おはようございます！",
        "今日はとても良い天気ですね。",
        "新しいプロジェクトを始めました。",
        "コーヒーを飲みながら本を読んでいます☕",
        "週末は山に行く予定です。",
        "猫がキーボードの上で寝ています。",
        "マストドンは楽しいですね。",
        "雨の日は家でゆっくり過ごします。",
    ],
}

# Posts without a language tag: mostly short, emoji-heavy or mixed.
UNDETERMINED: list[str] = [
    "🎉🎉🎉",
    "lol",
    "+1",
    "👀",
    "gm ☕",
    "ok but why 🤔",
    "same",
    "📸",
]

SPOILERS: dict[str, list[str]] = {
    "en": ["politics", "food", "eye contact", "long post", "mental health", "spoilers for the finale"],
    "de": ["Politik", "Essen", "langer Beitrag"],
    "fr": ["politique", "nourriture", "long message"],
    "es": ["política", "comida", "publicación larga"],
    "ja": ["ネタバレ", "長文"],
    "": ["cw", "meta"],
}

EDIT_SUFFIXES: dict[str, list[str]] = {
    "en": ["Edit: fixed a typo.", "Edit: added a link.", "Update: solved, thanks everyone!", "Edit: clarified."],
    "de": ["Edit: Tippfehler korrigiert.", "Nachtrag: gelöst, danke!"],
    "fr": ["Edit : faute de frappe corrigée.", "Mise à jour : résolu, merci !"],
    "es": ["Edit: corregida una errata.", "Actualización: resuelto, ¡gracias!"],
    "ja": ["追記：誤字を修正しました。", "追記：解決しました！"],
    "": ["edit: typo", "edit"],
}

# Hashtags as people type them (display case); the tag name is the lowercase form.
HASHTAGS: list[str] = [
    "Caturday",
    "Photography",
    "OpenSource",
    "FediHelp",
    "Gardening",
    "Python",
    "PostgreSQL",
    "Music",
    "Books",
    "Cycling",
    "Coffee",
    "DataEngineering",
    "MastoArt",
    "SilentSunday",
    "100DaysOfCode",
    "Linux",
    "Fotografie",
    "Café",
    "日曜日",
    "Climate",
]

SPIKE_TAG = "ForkaSpike"
CHATTER_TAG = "DailyChatter"

LINKS: list[tuple[str, str, str]] = [
    (
        "https://www.example.com/articles/2024/building-analytics-pipelines-with-dbt",
        "Building analytics pipelines with dbt",
        "A practical walk through staging, intermediate and mart models.",
    ),
    (
        "https://blog.example.org/p/42",
        "Why backups fail",
        "Ten stories of backups that were never tested.",
    ),
    (
        "https://news.example.net/science/2024/11/new-telescope-images-released?ref=fediverse",
        "New telescope images released",
        "The first images show galaxies in unprecedented detail.",
    ),
    (
        "https://www.example.com/recipes/sourdough",
        "Sourdough for beginners",
        "Flour, water, salt & patience.",
    ),
    (
        "https://video.example.org/watch/8f3a2b",
        "Conference talk: federated social networks",
        "Recording of the keynote.",
    ),
    (
        "https://example.net/",
        "Example Domain",
        "",
    ),
]

DISPLAY_NAME_WORDS: list[str] = [
    "Ada",
    "Bruno",
    "Chloé",
    "Dmitri",
    "Elif",
    "Farah",
    "Goran",
    "Hana",
    "Ines",
    "Jonas",
    "Kenji",
    "Lea",
    "Mateo",
    "Nadia",
    "Oskar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tomás",
    "Uma",
    "Viktor",
    "Wen",
    "Xenia",
    "Yusuf",
    "Zoë",
]

USERNAME_WORDS: list[str] = [
    "ada",
    "bruno",
    "chloe",
    "dmitri",
    "elif",
    "farah",
    "goran",
    "hana",
    "ines",
    "jonas",
    "kenji",
    "lea",
    "mateo",
    "nadia",
    "oskar",
    "priya",
    "quinn",
    "rosa",
    "sven",
    "tomas",
    "uma",
    "viktor",
    "wen",
    "xenia",
    "yusuf",
    "zoe",
    "pixel",
    "moss",
    "river",
    "ember",
    "fern",
    "orbit",
    "quill",
    "sparrow",
    "tidal",
    "birch",
]

NOTES: list[str] = [
    "Writing code, drinking tea.",
    "Photographer & hiker. Opinions are my own.",
    "Data engineer. I like boring databases.",
    "Dad jokes and bike rides.",
    "Bibliothécaire, lectrice, curieuse.",
    "Musik, Katzen, freie Software.",
    "Aprendiendo algo nuevo cada día.",
    "写真と旅行が好きです。",
]

BOT_NOTES: list[str] = [
    "Automated account: posts the weather every hour.",
    "I am a bot. I post random pictures of trains.",
]

MEDIA_DESCRIPTIONS: list[str] = [
    "A cat sleeping on a laptop keyboard.",
    "Sunset over the sea with orange clouds.",
    "A plate of fresh tomatoes from the garden.",
    "Screenshot of a terminal showing a passing test suite.",
    "Foggy forest path in the early morning.",
    "",
]

APPLICATIONS: list[tuple[str, str | None]] = [
    ("Web", None),
    ("Web", None),
    ("Ivory for iOS", "https://tapbots.com/ivory"),
    ("Tusky", "https://tusky.app"),
    ("Elk", "https://elk.zone"),
    ("Phanpy", "https://phanpy.social"),
]

CUSTOM_EMOJIS: list[str] = ["blobcat", "mastodon", "ablobwave"]
