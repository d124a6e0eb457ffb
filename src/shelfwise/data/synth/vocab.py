"""Word lists the demo shop composes its catalogue and reviews from.

Titles and descriptions are built from per-category nouns, per-department materials and uses, and a
small set of *styles* whose words also shape the items' latent taste factors. That is what makes text
similarity carry signal: two "Rustic Oak Side Table"s are close in embedding space *and* appeal to the
same users. Review sentences come in positive and negative flavours so their sentiment follows the
rating.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Department:
    """A top-level department: its leaf categories (name -> product nouns) and shared vocabulary."""

    name: str
    subcategories: dict[str, tuple[str, ...]]
    materials: tuple[str, ...]
    variants: tuple[str, ...]          # size / volume / pack words appended to titles
    uses: tuple[str, ...]              # "... ideal for {use}"
    features: tuple[str, ...]          # one description sentence each
    aspect: str                        # what reviewers of this department talk about
    median_price: float                # the department's typical price; categories scatter around it
    return_bias: float = 0.0           # extra log-odds of a return (clothes come back more often)


DEPARTMENTS: tuple[Department, ...] = (
    Department(
        "Home & Living",
        {"Furniture": ("Side Table", "Bookshelf", "Armchair", "Coffee Table", "Sideboard"),
         "Lighting": ("Floor Lamp", "Table Lamp", "Pendant Light", "Wall Light"),
         "Textiles": ("Throw Blanket", "Cushion Cover", "Rug", "Curtain Set", "Bath Towel"),
         "Decor": ("Wall Mirror", "Vase", "Photo Frame", "Wall Clock", "Candle Holder")},
        ("Oak", "Walnut", "Rattan", "Linen", "Velvet", "Marble", "Brass", "Cotton"),
        ("Small", "Medium", "Large", "Set of 2", "60 cm", "90 cm", "120 cm"),
        ("the living room", "a cosy bedroom", "small apartments", "the hallway"),
        ("Easy to assemble with the included tools.", "Finished by hand for a warm, natural look.",
         "Designed to fit compact spaces.", "Sturdy construction for everyday use."),
        "the finish", 120.0),
    Department(
        "Kitchen",
        {"Cookware": ("Frying Pan", "Saucepan", "Stock Pot", "Wok", "Casserole Dish"),
         "Knives": ("Chef Knife", "Bread Knife", "Knife Block", "Paring Knife"),
         "Tableware": ("Dinner Plate Set", "Mug", "Serving Bowl", "Cutlery Set", "Wine Glass Set"),
         "Appliances": ("Kettle", "Toaster", "Blender", "Coffee Maker", "Hand Mixer")},
        ("Stainless Steel", "Cast Iron", "Ceramic", "Porcelain", "Bamboo", "Copper", "Glass"),
        ("20 cm", "24 cm", "28 cm", "1.5 l", "2 l", "Set of 4", "Set of 6"),
        ("everyday cooking", "weekend baking", "family dinners", "entertaining guests"),
        ("Dishwasher safe and easy to clean.", "Heats evenly on all hobs, including induction.",
         "Comfortable handle that stays cool.", "Built to last for years of daily use."),
        "cleaning", 45.0),
    Department(
        "Fashion",
        {"Tops": ("T-Shirt", "Shirt", "Blouse", "Sweater", "Hoodie"),
         "Bottoms": ("Jeans", "Chinos", "Skirt", "Shorts", "Joggers"),
         "Outerwear": ("Rain Jacket", "Wool Coat", "Puffer Jacket", "Gilet"),
         "Shoes": ("Trainers", "Ankle Boots", "Loafers", "Sandals", "Running Shoes")},
        ("Organic Cotton", "Merino Wool", "Denim", "Leather", "Recycled Polyester", "Linen"),
        ("XS", "S", "M", "L", "XL", "Size 38", "Size 42"),
        ("the office", "weekends", "travel", "cold mornings"),
        ("Cut for a relaxed, comfortable fit.", "Soft on the skin and breathable.",
         "Machine washable at 30 degrees.", "Reinforced seams for a long life."),
        "the fit", 55.0, return_bias=0.8),
    Department(
        "Beauty",
        {"Skincare": ("Face Cream", "Serum", "Cleanser", "Sun Cream", "Face Mask"),
         "Haircare": ("Shampoo", "Conditioner", "Hair Oil", "Hair Mask"),
         "Fragrance": ("Eau de Parfum", "Body Mist", "Scented Candle", "Diffuser"),
         "Bath & Body": ("Body Lotion", "Shower Gel", "Hand Cream", "Bath Salts")},
        ("Aloe Vera", "Shea Butter", "Argan Oil", "Vitamin C", "Lavender", "Rose", "Charcoal"),
        ("50 ml", "100 ml", "200 ml", "250 ml", "Travel Size", "Refill Pack"),
        ("daily routines", "sensitive skin", "a relaxing evening", "dry skin"),
        ("Free from parabens and artificial colours.", "Dermatologically tested.",
         "Absorbs quickly without a greasy feel.", "Made with natural ingredients."),
        "the scent", 22.0),
    Department(
        "Sports & Outdoors",
        {"Fitness": ("Yoga Mat", "Dumbbell Set", "Resistance Band", "Kettlebell", "Foam Roller"),
         "Cycling": ("Bike Helmet", "Bike Light", "Cycling Gloves", "Bike Lock", "Water Bottle"),
         "Camping": ("Tent", "Sleeping Bag", "Camping Stove", "Head Torch", "Backpack"),
         "Running": ("Running Vest", "Running Belt", "Sports Watch", "Compression Socks")},
        ("Neoprene", "Aluminium", "Ripstop Nylon", "Carbon", "Rubber", "Mesh"),
        ("One Size", "S/M", "L/XL", "20 l", "35 l", "2 kg", "5 kg"),
        ("home workouts", "long rides", "weekend hikes", "trail running"),
        ("Lightweight and easy to carry.", "Weather resistant for all seasons.",
         "Non-slip grip for safer training.", "Packs down small for travel."),
        "durability", 40.0),
    Department(
        "Electronics",
        {"Audio": ("Wireless Earbuds", "Bluetooth Speaker", "Headphones", "Soundbar"),
         "Computing": ("Laptop Stand", "Wireless Mouse", "Mechanical Keyboard", "USB-C Hub", "Webcam"),
         "Phone Accessories": ("Phone Case", "Power Bank", "Charging Cable", "Wireless Charger"),
         "Smart Home": ("Smart Plug", "Smart Bulb", "Security Camera", "Video Doorbell")},
        ("Aluminium", "Matte Plastic", "Silicone", "Tempered Glass", "Fabric"),
        ("Black", "White", "Graphite", "Silver", "10000 mAh", "2 m", "Pack of 2"),
        ("working from home", "commuting", "gaming", "a connected home"),
        ("Long battery life on a single charge.", "Simple setup in under five minutes.",
         "Compatible with iOS and Android.", "Two year warranty included."),
        "battery life", 60.0),
    Department(
        "Toys & Games",
        {"Board Games": ("Strategy Game", "Party Game", "Card Game", "Puzzle Game"),
         "Building Toys": ("Building Set", "Marble Run", "Construction Kit", "Magnetic Tiles"),
         "Puzzles": ("Jigsaw Puzzle", "3D Puzzle", "Brain Teaser", "Floor Puzzle"),
         "Outdoor Toys": ("Kite", "Scooter", "Water Blaster", "Garden Swing", "Frisbee")},
        ("Wooden", "Cardboard", "Recycled Plastic", "Plush", "Metal"),
        ("Ages 3+", "Ages 6+", "Ages 8+", "500 Pieces", "1000 Pieces", "Family Edition"),
        ("family game nights", "rainy afternoons", "birthday gifts", "outdoor play"),
        ("Clear instructions in the box.", "Safety tested for young children.",
         "Hours of creative play.", "Great value for a gift."),
        "the fun factor", 30.0),
    Department(
        "Garden",
        {"Plants & Seeds": ("Seed Kit", "Herb Garden", "Bulb Collection", "Potted Olive Tree"),
         "Garden Tools": ("Pruning Shears", "Garden Trowel", "Hose Reel", "Rake", "Watering Can"),
         "Garden Furniture": ("Bistro Set", "Sun Lounger", "Garden Bench", "Parasol"),
         "Outdoor Lighting": ("Solar Lantern", "String Lights", "Path Light", "Fire Pit")},
        ("Teak", "Galvanised Steel", "Terracotta", "Acacia", "Weatherproof Resin"),
        ("Small", "Large", "Set of 3", "10 m", "25 m", "Pack of 10"),
        ("small balconies", "the patio", "vegetable beds", "summer evenings"),
        ("Rust resistant and built for the outdoors.", "Easy to store over winter.",
         "Ready to use straight out of the box.", "Kind to wildlife and the soil."),
        "the build quality", 50.0),
)

# A style word appears in the title and description and moves the item in latent taste space, so the
# users who like one "Vintage" item tend to like the others.
STYLES: tuple[tuple[str, str], ...] = (
    ("Classic", "A timeless design that never goes out of fashion."),
    ("Modern", "Clean lines and a contemporary look."),
    ("Rustic", "A rustic, handcrafted character with natural textures."),
    ("Minimalist", "Pared back and minimalist, nothing you do not need."),
    ("Vintage", "A vintage look inspired by the 1970s."),
    ("Sporty", "A bold, sporty design made for active days."),
    ("Luxury", "Premium luxury finish with fine details."),
    ("Eco", "Eco friendly, made with sustainable materials."),
)

COLOURS: tuple[str, ...] = ("black", "white", "grey", "navy", "green", "red", "beige", "blue", "pink", "brown")

BRAND_TIERS: tuple[str, ...] = ("budget", "standard", "premium")

_SYLLABLES_A = ("Nor", "Kal", "Vel", "Ast", "Bri", "Lum", "Sol", "Tor", "Fen", "Mar", "Oro", "Zen",
                "Hal", "Ivo", "Pel", "Rav", "Sky", "Tal", "Ulm", "Wex")
_SYLLABLES_B = ("vik", "mo", "ora", "dal", "ex", "ino", "ara", "sen", "ley", "ton", "ika", "um", "ford", "ia")


def brand_names(n: int) -> list[str]:
    """``n`` distinct brand names composed from syllables, always the same for the same ``n``."""
    names = [a + b for a in _SYLLABLES_A for b in _SYLLABLES_B]
    if n <= len(names):
        # a fixed stride walks the grid so neighbouring brands do not share their first syllable
        step = 11
        return [names[(i * step) % len(names)] for i in range(n)]
    return names + [f"{names[i % len(names)]} {i // len(names) + 1}" for i in range(len(names), n)]


# ---- reviews ----------------------------------------------------------------------------------
# Placeholders: {noun} (lower-case product noun), {Aspect} (the department's aspect, capitalised).
POSITIVE_OPENINGS = (
    "Absolutely love this {noun}!", "Excellent {noun}, exactly as described.", "Great {noun}, very happy with it.",
    "Perfect {noun}, better than I expected.", "Really pleased with this {noun}.",
)
NEGATIVE_OPENINGS = (
    "Really disappointed with this {noun}.", "Terrible {noun}, do not buy.", "Poor quality {noun}.",
    "This {noun} was a waste of money.", "Awful {noun}, not as described.",
)
MILD_NEGATIVE_OPENINGS = (
    "A disappointing {noun}.", "Rather poor {noun} for the price.", "Disappointed with this {noun}, sadly.",
)
NEUTRAL_OPENINGS = (
    "The {noun} is okay.", "Decent {noun} for the price.", "An average {noun}, nothing special.",
)
POSITIVE_ASPECTS = (
    "The quality is excellent and it feels sturdy.", "Great value for money.", "{Aspect} is perfect.",
    "Fast delivery and lovely packaging.", "It looks beautiful in person.", "Works perfectly every day.",
)
NEGATIVE_ASPECTS = (
    "It broke after a week.", "It feels cheap and flimsy.", "{Aspect} is poor.",
    "Delivery was late and the box was damaged.", "It looks nothing like the photos.",
    "Stopped working after a few days.",
)
POSITIVE_CLOSINGS = ("Highly recommend!", "Would definitely buy again.", "Five stars from me.", "Love it.")
NEGATIVE_CLOSINGS = ("Would not recommend.", "Sent it back.", "Avoid.", "Very disappointed overall.")
NEUTRAL_CLOSINGS = ("It does the job.", "Fine for now.", "Not sure I would buy it again.")
