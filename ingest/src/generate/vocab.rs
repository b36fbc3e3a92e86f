//! Fixed vocabularies of the synthetic world: niches and their words, countries, brands, orgs.
//!
//! Invariant: every table here is a compile-time constant indexed in lock-step
//! (`NICHE_WORDS[i]` belongs to `NICHES[i]`, and so on), so the generator's
//! output depends on nothing but the seed.

/// The content categories creators post in and briefs ask for (lower case).
pub const NICHES: &[&str] = &[
    "fitness",
    "vegan-food",
    "beauty",
    "gaming",
    "travel",
    "tech",
    "parenting",
    "fashion",
    "finance",
    "pets",
    "diy",
    "music",
    "comedy",
    "education",
    "skincare",
    "outdoor",
    "cooking",
    "sustainability",
    "photography",
    "books",
    "cars",
    "home-decor",
    "wellness",
    "sports",
    "crypto",
];

/// Relative popularity of each niche among creators (same order as `NICHES`).
pub const NICHE_WEIGHTS: &[f64] = &[
    8.0, 3.0, 7.0, 7.0, 6.0, 5.0, 4.0, 7.0, 3.0, 4.0, 3.0, 4.0, 4.0, 3.0, 4.0, 3.0, 5.0, 2.0, 3.0,
    2.0, 2.0, 3.0, 4.0, 4.0, 1.5,
];

/// Words and phrases of each niche (same order as `NICHES`): bios, brief
/// keywords and descriptions are written from them.
pub const NICHE_WORDS: &[&[&str]] = &[
    // fitness
    &[
        "workout",
        "strength training",
        "hiit",
        "gym",
        "protein",
        "mobility",
        "cardio",
        "personal trainer",
        "muscle",
        "running",
        "home workouts",
        "fat loss",
        "squats",
        "endurance",
    ],
    // vegan-food
    &[
        "plant based",
        "vegan recipes",
        "oat milk",
        "tofu",
        "meal prep",
        "dairy free",
        "lentils",
        "smoothie bowls",
        "plant protein",
        "cruelty free",
        "chickpeas",
        "vegan baking",
        "whole foods",
        "breakfast",
    ],
    // beauty
    &[
        "makeup",
        "lipstick",
        "foundation",
        "eyeliner",
        "contour",
        "makeup tutorial",
        "glam",
        "highlighter",
        "brows",
        "lashes",
        "cosmetics",
        "beauty routine",
        "nail art",
        "fragrance",
    ],
    // gaming
    &[
        "gameplay",
        "fps",
        "speedrun",
        "esports",
        "console",
        "pc gaming",
        "walkthrough",
        "rpg",
        "indie games",
        "let's play",
        "controller",
        "battle royale",
        "gaming setup",
        "strategy",
    ],
    // travel
    &[
        "backpacking",
        "city guide",
        "hidden gems",
        "road trip",
        "travel tips",
        "hotels",
        "flights",
        "island",
        "wanderlust",
        "itinerary",
        "budget travel",
        "luxury travel",
        "solo travel",
        "passport",
    ],
    // tech
    &[
        "smartphone",
        "gadgets",
        "unboxing",
        "laptop",
        "tech review",
        "smart home",
        "headphones",
        "coding",
        "software",
        "wearables",
        "ai tools",
        "productivity apps",
        "battery life",
        "setup tour",
    ],
    // parenting
    &[
        "toddler",
        "newborn",
        "mom life",
        "dad life",
        "family",
        "bedtime routine",
        "school lunches",
        "baby gear",
        "pregnancy",
        "kids activities",
        "homeschool",
        "parenting tips",
        "family travel",
        "twins",
    ],
    // fashion
    &[
        "outfit",
        "streetwear",
        "ootd",
        "style tips",
        "sneakers",
        "thrift haul",
        "capsule wardrobe",
        "denim",
        "designer",
        "lookbook",
        "accessories",
        "runway",
        "vintage",
        "tailoring",
    ],
    // finance
    &[
        "budgeting",
        "investing",
        "index funds",
        "saving money",
        "personal finance",
        "side hustle",
        "retirement",
        "credit score",
        "passive income",
        "frugal living",
        "taxes",
        "debt free",
        "stock market",
        "financial freedom",
    ],
    // pets
    &[
        "dog",
        "cat",
        "puppy",
        "kitten",
        "pet care",
        "dog training",
        "rescue pets",
        "pet food",
        "grooming",
        "adoption",
        "vet tips",
        "dog walks",
        "cat toys",
        "aquarium",
    ],
    // diy
    &[
        "woodworking",
        "crafts",
        "upcycling",
        "power tools",
        "home repair",
        "renovation",
        "handmade",
        "3d printing",
        "sewing",
        "build",
        "workshop",
        "weekend project",
        "restoration",
        "painting",
    ],
    // music
    &[
        "guitar",
        "singer",
        "songwriting",
        "producer",
        "beats",
        "cover songs",
        "piano",
        "live music",
        "vinyl",
        "concert",
        "music production",
        "studio",
        "playlist",
        "drums",
    ],
    // comedy
    &[
        "sketches",
        "stand up",
        "pranks",
        "memes",
        "parody",
        "funny",
        "skits",
        "improv",
        "relatable",
        "impressions",
        "roast",
        "bloopers",
        "jokes",
        "satire",
    ],
    // education
    &[
        "study tips",
        "science",
        "history",
        "math",
        "language learning",
        "explainer",
        "tutoring",
        "exam prep",
        "online courses",
        "learning",
        "physics",
        "biology",
        "teacher",
        "lectures",
    ],
    // skincare
    &[
        "skincare routine",
        "serum",
        "sunscreen",
        "retinol",
        "moisturizer",
        "acne",
        "hyaluronic acid",
        "glowing skin",
        "dermatologist",
        "cleanser",
        "spf",
        "sensitive skin",
        "anti aging",
        "niacinamide",
    ],
    // outdoor
    &[
        "hiking",
        "camping",
        "climbing",
        "trail",
        "backcountry",
        "kayaking",
        "national parks",
        "gear review",
        "mountains",
        "wild camping",
        "trail running",
        "fishing",
        "van life",
        "survival skills",
    ],
    // cooking
    &[
        "recipes",
        "home cooking",
        "baking",
        "dinner ideas",
        "kitchen",
        "pasta",
        "grilling",
        "comfort food",
        "meal ideas",
        "chef",
        "sourdough",
        "one pot",
        "spices",
        "quick meals",
    ],
    // sustainability
    &[
        "zero waste",
        "eco friendly",
        "recycling",
        "climate",
        "slow fashion",
        "composting",
        "reusable",
        "solar",
        "second hand",
        "low waste",
        "green living",
        "circular",
        "ethical brands",
        "refill",
    ],
    // photography
    &[
        "camera",
        "lenses",
        "portrait",
        "landscape photography",
        "editing",
        "lightroom",
        "street photography",
        "film photography",
        "drone",
        "golden hour",
        "photo tips",
        "mirrorless",
        "composition",
        "presets",
    ],
    // books
    &[
        "book review",
        "reading list",
        "novels",
        "booktok",
        "fantasy",
        "thrillers",
        "book club",
        "authors",
        "romance",
        "audiobooks",
        "bookshelf",
        "literary fiction",
        "poetry",
        "tbr",
    ],
    // cars
    &[
        "car review",
        "supercars",
        "electric cars",
        "detailing",
        "track day",
        "engine",
        "road test",
        "car mods",
        "classic cars",
        "test drive",
        "horsepower",
        "motorsport",
        "ev charging",
        "garage",
    ],
    // home-decor
    &[
        "interior design",
        "home tour",
        "decor",
        "apartment",
        "minimalist",
        "cozy home",
        "furniture",
        "plants",
        "styling",
        "room makeover",
        "scandinavian",
        "organization",
        "lighting",
        "rental friendly",
    ],
    // wellness
    &[
        "mindfulness",
        "meditation",
        "yoga",
        "self care",
        "sleep",
        "mental health",
        "breathwork",
        "journaling",
        "healthy habits",
        "stress relief",
        "gut health",
        "morning routine",
        "balance",
        "holistic",
    ],
    // sports
    &[
        "football",
        "basketball",
        "soccer",
        "tennis",
        "highlights",
        "training",
        "athlete",
        "match analysis",
        "fantasy sports",
        "cycling",
        "golf",
        "game day",
        "fan culture",
        "coaching",
    ],
    // crypto
    &[
        "bitcoin",
        "ethereum",
        "blockchain",
        "web3",
        "defi",
        "nft",
        "altcoins",
        "crypto news",
        "wallet",
        "trading",
        "staking",
        "tokenomics",
        "bull market",
        "onchain",
    ],
];

/// Short tag used in generated handles (same order as `NICHES`).
pub const NICHE_HANDLE_TAGS: &[&str] = &[
    "fit", "plants", "glam", "plays", "roams", "techie", "family", "style", "money", "paws",
    "makes", "music", "laughs", "learns", "skin", "wild", "cooks", "green", "shoots", "reads",
    "drives", "home", "calm", "sport", "chain",
];

/// Niches whose audiences overlap: a creator's secondary niches and a
/// brief's extra niches are drawn from here first (indices into `NICHES`).
pub const RELATED_NICHES: &[&[usize]] = &[
    &[22, 23, 1],     // fitness: wellness, sports, vegan-food
    &[16, 22, 17],    // vegan-food: cooking, wellness, sustainability
    &[14, 7],         // beauty: skincare, fashion
    &[5, 12, 11],     // gaming: tech, comedy, music
    &[18, 15, 16],    // travel: photography, outdoor, cooking
    &[3, 18, 24, 13], // tech: gaming, photography, crypto, education
    &[13, 21, 16],    // parenting: education, home-decor, cooking
    &[2, 4, 17],      // fashion: beauty, travel, sustainability
    &[24, 13, 5],     // finance: crypto, education, tech
    &[12, 15, 10],    // pets: comedy, outdoor, diy
    &[21, 17, 18],    // diy: home-decor, sustainability, photography
    &[12, 3],         // music: comedy, gaming
    &[11, 3, 9],      // comedy: music, gaming, pets
    &[19, 5, 8],      // education: books, tech, finance
    &[2, 22],         // skincare: beauty, wellness
    &[4, 18, 23, 0],  // outdoor: travel, photography, sports, fitness
    &[1, 6],          // cooking: vegan-food, parenting
    &[1, 10, 15],     // sustainability: vegan-food, diy, outdoor
    &[4, 5],          // photography: travel, tech
    &[13, 21],        // books: education, home-decor
    &[5, 23],         // cars: tech, sports
    &[10, 6],         // home-decor: diy, parenting
    &[0, 14, 1],      // wellness: fitness, skincare, vegan-food
    &[0, 15, 20],     // sports: fitness, outdoor, cars
    &[8, 5],          // crypto: finance, tech
];

/// Typical female share of a niche's audience (same order as `NICHES`).
pub const NICHE_FEMALE_SHARE: &[f64] = &[
    0.55, 0.68, 0.86, 0.24, 0.58, 0.30, 0.80, 0.74, 0.36, 0.66, 0.45, 0.50, 0.45, 0.55, 0.84, 0.42,
    0.64, 0.66, 0.40, 0.76, 0.14, 0.78, 0.72, 0.32, 0.16,
];

/// Filler words mixed into bios between niche words.
pub const BIO_FILLER: &[&str] = &[
    "daily",
    "honest",
    "real",
    "simple",
    "tips",
    "and",
    "with",
    "for",
    "your",
    "my",
    "new",
    "best",
    "easy",
    "weekly",
    "stories",
    "ideas",
    "life",
    "love",
    "sharing",
    "journey",
    "community",
    "everyday",
    "fun",
    "favourite",
    "guides",
    "notes",
    "small",
    "big",
];

/// Bio openers.
pub const BIO_OPENERS: &[&str] = &[
    "Sharing",
    "All about",
    "Your go-to for",
    "Obsessed with",
    "Talking",
    "Creating",
    "Documenting",
    "Here for",
];

/// First names used in handles.
pub const HANDLE_NAMES: &[&str] = &[
    "maya", "leo", "sofia", "noah", "emma", "liam", "ava", "lucas", "mia", "ethan", "zoe", "omar",
    "nina", "kai", "lena", "arjun", "chloe", "mateo", "isla", "felix", "yara", "jonas", "amara",
    "diego", "hana", "theo", "priya", "max", "lucia", "sam", "elif", "ravi", "ines", "tom", "aiko",
    "ben", "clara", "joao", "fatima", "alex",
];

/// A country of the synthetic world.
#[derive(Debug, Clone, Copy)]
pub struct Country {
    /// ISO 3166-1 alpha-2.
    pub code: &'static str,
    /// Relative share of creators living there.
    pub weight: f64,
    /// Main language (ISO 639-1).
    pub language: &'static str,
    /// A second language and the probability a creator there also posts in it.
    pub second: Option<(&'static str, f64)>,
    /// Coarse region: audiences spill over within a region.
    pub region: u8,
    /// A greeting some bios open with.
    pub greeting: &'static str,
}

const fn c(
    code: &'static str,
    weight: f64,
    language: &'static str,
    second: Option<(&'static str, f64)>,
    region: u8,
    greeting: &'static str,
) -> Country {
    Country {
        code,
        weight,
        language,
        second,
        region,
        greeting,
    }
}

/// Countries creators live in (regions: 0 N. America, 1 Europe, 2 Latin
/// America, 3 Asia-Pacific, 4 Africa).
pub const COUNTRIES: &[Country] = &[
    c("US", 0.30, "en", Some(("es", 0.12)), 0, "Hey"),
    c("GB", 0.08, "en", None, 1, "Hiya"),
    c("CA", 0.05, "en", Some(("fr", 0.25)), 0, "Hey"),
    c("AU", 0.04, "en", None, 3, "G'day"),
    c("IE", 0.01, "en", Some(("ga", 0.05)), 1, "Hi"),
    c("DE", 0.06, "de", Some(("en", 0.35)), 1, "Hallo"),
    c("FR", 0.06, "fr", Some(("en", 0.20)), 1, "Bonjour"),
    c("ES", 0.05, "es", Some(("en", 0.25)), 1, "Hola"),
    c("IT", 0.04, "it", Some(("en", 0.20)), 1, "Ciao"),
    c("NL", 0.02, "nl", Some(("en", 0.60)), 1, "Hoi"),
    c("SE", 0.015, "sv", Some(("en", 0.60)), 1, "Hej"),
    c("PL", 0.02, "pl", Some(("en", 0.30)), 1, "Cześć"),
    c("BR", 0.07, "pt", Some(("en", 0.15)), 2, "Olá"),
    c("MX", 0.05, "es", Some(("en", 0.20)), 2, "Hola"),
    c("AR", 0.02, "es", None, 2, "Hola"),
    c("IN", 0.06, "en", Some(("hi", 0.50)), 3, "Namaste"),
    c("JP", 0.025, "ja", Some(("en", 0.10)), 3, "Konnichiwa"),
    c("PH", 0.02, "en", Some(("tl", 0.40)), 3, "Kumusta"),
    c("NG", 0.015, "en", None, 4, "Hello"),
    c("ZA", 0.01, "en", Some(("af", 0.15)), 4, "Howzit"),
];

/// Brand-name stems; a brand is a stem plus its niche's noun.
pub const BRAND_STEMS: &[&str] = &[
    "Northwind",
    "Bluepeak",
    "Lumen",
    "Vesta",
    "Corvid",
    "Halcyon",
    "Ironleaf",
    "Solace",
    "Brightfield",
    "Kestrel",
    "Marlow",
    "Oakridge",
    "Pinecrest",
    "Quill",
    "Rivet",
    "Saffron",
    "Tidewater",
    "Umbra",
    "Verdant",
    "Wildrose",
    "Yonder",
    "Zephyr",
    "Amberly",
    "Copperline",
    "Driftwood",
    "Evergold",
    "Foxglove",
    "Granite Bay",
    "Hollow Pine",
    "Juniper",
    "Kindred",
    "Larkspur",
    "Moonrise",
    "Nimbus",
    "Orchard",
    "Paloma",
    "Redwood",
    "Silverline",
    "Thistle",
    "Upland",
];

/// The noun that makes a stem into a brand of a niche (same order as `NICHES`).
pub const BRAND_NOUNS: &[&str] = &[
    "Athletics",
    "Plant Co",
    "Cosmetics",
    "Games",
    "Travel",
    "Electronics",
    "Baby",
    "Apparel",
    "Bank",
    "Pet Supply",
    "Tools",
    "Audio",
    "Studios",
    "Learning",
    "Skin",
    "Outfitters",
    "Kitchen",
    "Goods",
    "Optics",
    "Press",
    "Motors",
    "Home",
    "Wellness",
    "Sports",
    "Exchange",
];

/// Brands per niche.
pub const BRANDS_PER_NICHE: usize = 5;

/// Number of paying organisations (marketers and agencies).
pub const ORG_COUNT: usize = 50;

const ORG_PREFIXES: &[&str] = &[
    "acme", "bright", "cedar", "delta", "ember", "fjord", "granite", "harbor", "indigo", "juniper",
];
const ORG_SUFFIXES: &[&str] = &["agency", "media", "brands", "collective", "partners"];

/// The id of org `i` (`0..ORG_COUNT`), e.g. `acme-agency`.
pub fn org_id(i: usize) -> String {
    format!(
        "{}-{}",
        ORG_PREFIXES[i % ORG_PREFIXES.len()],
        ORG_SUFFIXES[(i / ORG_PREFIXES.len()) % ORG_SUFFIXES.len()]
    )
}

/// All brands, niche-major: brand `b` belongs to niche `b / BRANDS_PER_NICHE`.
pub fn brand_names() -> Vec<String> {
    let mut out = Vec::with_capacity(NICHES.len() * BRANDS_PER_NICHE);
    for (n, noun) in BRAND_NOUNS.iter().enumerate() {
        for j in 0..BRANDS_PER_NICHE {
            let stem = BRAND_STEMS[(n * 7 + j * 3) % BRAND_STEMS.len()];
            out.push(format!("{stem} {noun}"));
        }
    }
    out
}

/// The org that runs brand `b` (every org runs two or three brands).
pub fn brand_org(b: usize) -> usize {
    (b * 17 + 3) % ORG_COUNT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_aligned() {
        assert_eq!(NICHES.len(), 25);
        assert_eq!(NICHE_WEIGHTS.len(), NICHES.len());
        assert_eq!(NICHE_WORDS.len(), NICHES.len());
        assert_eq!(NICHE_HANDLE_TAGS.len(), NICHES.len());
        assert_eq!(RELATED_NICHES.len(), NICHES.len());
        assert_eq!(NICHE_FEMALE_SHARE.len(), NICHES.len());
        assert_eq!(BRAND_NOUNS.len(), NICHES.len());
        for (i, rel) in RELATED_NICHES.iter().enumerate() {
            assert!(rel.iter().all(|&r| r != i && r < NICHES.len()));
        }
    }

    #[test]
    fn brands_and_orgs_are_unique() {
        let brands = brand_names();
        let mut sorted = brands.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), brands.len());
        let mut orgs: Vec<String> = (0..ORG_COUNT).map(org_id).collect();
        orgs.sort();
        orgs.dedup();
        assert_eq!(orgs.len(), ORG_COUNT);
        let mut per_org = [0; ORG_COUNT];
        for b in 0..brands.len() {
            per_org[brand_org(b)] += 1;
        }
        assert!(per_org.iter().all(|&n| (2..=3).contains(&n)));
    }
}
