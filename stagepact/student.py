from flask import Blueprint

bp = Blueprint("student", __name__)
